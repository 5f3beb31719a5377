import { test } from 'node:test';
import assert from 'node:assert/strict';
import { symbolAt } from '../../../src/engine/exceptions';

// Texts as gdb 13 prints them for `info line *ADDR`.
test("pc's symbol and offset come from the line's first address", () => {
  const text = 'Line 52 of "arch/x86/include/asm/irqflags.h" starts at address 0xffffffff81a0dfea <native_safe_halt+10> and ends at 0xffffffff81a0dfeb <native_safe_halt+11>.\n';
  assert.deepEqual(symbolAt(text, 0xffffffff81a0dfean), { func: 'native_safe_halt', offset: 10 });
  assert.deepEqual(symbolAt(text, 0xffffffff81a0dfebn), { func: 'native_safe_halt', offset: 11 });
  assert.deepEqual(symbolAt('No line number information available for address 0xffffffff81000000 <_stext>\n', 0xffffffff81000000n), { func: '_stext', offset: 0 });
});

test('an answer that does not place pc gives nothing (the caller asks info symbol)', () => {
  assert.equal(symbolAt('Line 7 of "a.c" is at address 0xffffffff81000010 <f+16> but contains no code.\n', 0xffffffff81000010n), undefined);
  assert.equal(symbolAt('Line 52 of "x.h" starts at address 0xffffffff81a0dfea <g+10> and ends at 0xffffffff81a0dfeb <g+11>.\n', 0xffffffff81a0dfe0n), undefined);
  assert.equal(symbolAt('No line number information available for address 0x4a1b2c\n', 0x4a1b2cn), undefined);
});
