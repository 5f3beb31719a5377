import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { expressionAt, walkedPointer } from '../../../src/extension/expression';

describe('the expression under the mouse', () => {
  const line = '\tpgd_t *pgd = mm->pgd + pgd_index(addr); entry.pte = vmf -> orig_pte.pte;';
  const at = (word: string, nth = 0, offset = 0) => {
    let i = -1;
    for (let k = 0; k <= nth; k++) i = line.indexOf(word, i + 1);
    assert.ok(i >= 0, word);
    return expressionAt(line, i + offset);
  };

  test('a plain identifier, anywhere in it', () => {
    assert.equal(at('pgd', 1), 'pgd');
    assert.equal(at('addr', 0, 3), 'addr');
    assert.equal(at('pgd_index', 0, 4), 'pgd_index');
  });

  test('a member chain up to the hovered member, spaces dropped', () => {
    assert.equal(at('mm'), 'mm');
    assert.equal(at('pgd', 2), 'mm->pgd');
    assert.equal(at('pte', 0), 'entry.pte');
    assert.equal(at('orig_pte'), 'vmf->orig_pte');
    assert.equal(at('pte', 2), 'vmf->orig_pte.pte');
  });

  test('nothing on keywords, numbers, punctuation or space', () => {
    assert.equal(expressionAt('struct page *p;', 2), undefined);
    assert.equal(expressionAt('x = 0x1000;', 6), undefined);
    assert.equal(expressionAt('a = b;', 2), undefined);
    assert.equal(expressionAt('', 0), undefined);
    assert.equal(at('pgd_t', 0, 0), 'pgd_t');
  });

  test('the address of a pointer hover the adapter walked, and nothing for other hovers', () => {
    assert.equal(walkedPointer('0xffffffff82a079c0 <jiffies_64>  ·  → phys 0x2a079c0, 2 MiB page: kernel RW-'), '0xffffffff82a079c0');
    assert.equal(walkedPointer('(pgd_t *) 0xffff800081ad0000  ·  → not mapped: L0[0] = 0x0'), '0xffff800081ad0000');
    assert.equal(walkedPointer('{pte = 0x8000000002a001e3}  ·  PTE/PTE page → phys 0x2a00000: kernel RW-'), undefined);
    assert.equal(walkedPointer('0xffff888004a88cc0 <init_task>'), undefined);
  });
});
