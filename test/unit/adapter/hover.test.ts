/**
 * The page-table hover: which gdb types get a decode, how the entry's value is read out of
 * gdb's print, and the text appended. Decodes go through the kernel decoder the adapter uses
 * (decodeEntry); the expected physical addresses are the kernel's own masks applied by hand:
 * x86 PTE_PFN_MASK (bits 51:12, arch/x86/include/asm/pgtable_types.h), arm64 64K
 * PTE_ADDR_LOW (bits 47:16, arch/arm64/include/asm/pgtable-hwdef.h).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DebugProtocol } from '@vscode/debugprotocol';
import {
  decorateHover,
  entryValue,
  formatDecode,
  formatPageSize,
  formatWalk,
  hoverSeparator,
  hoverSubject,
  parseAddress,
  type HoverBackend,
} from '../../../src/adapter/hover';
import type { CustomRequests } from '../../../src/adapter/protocol';
import { decodeEntry, entryToJson, type PagingOverride } from '../../../src/kernel/pagetable';
import type { Arch } from '../../../src/kernel/target';

const x86PfnMask = ((1n << 52n) - 1n) & ~0xfffn;
const arm64Addr64K = ((1n << 48n) - 1n) & ~0xffffn;

describe('hover: which values are page-table entries or pointers', () => {
  test('the entry types and their value typedefs, with qualifiers', () => {
    assert.deepEqual(hoverSubject('pte_t', 'pte', '{...}'), { kind: 'entry', level: 'PTE', struct: true });
    assert.deepEqual(hoverSubject('const pmd_t', '*pmdp', '{...}'), { kind: 'entry', level: 'PMD', struct: true });
    assert.deepEqual(hoverSubject('pud_t', 'pud', '{...}'), { kind: 'entry', level: 'PUD', struct: true });
    assert.deepEqual(hoverSubject('p4d_t', 'p4d', '{...}'), { kind: 'entry', level: 'P4D', struct: true });
    assert.deepEqual(hoverSubject('volatile pgd_t', 'pgd', '{...}'), { kind: 'entry', level: 'PGD', struct: true });
    assert.deepEqual(hoverSubject('pteval_t', 'pte.pte', String(0x8000000002a001e3n)), { kind: 'entry', level: 'PTE', struct: false });
    assert.deepEqual(hoverSubject('pmdval_t', 'x', '1'), { kind: 'entry', level: 'PMD', struct: false });
  });

  test('a .pte/.pmd member gdb shows as a plain integer', () => {
    assert.deepEqual(hoverSubject('unsigned long', 'entry.pte', '5'), { kind: 'entry', level: 'PTE', struct: false });
    assert.deepEqual(hoverSubject('u64', 'p->pmd', '5'), { kind: 'entry', level: 'PMD', struct: false });
    // A member of that name that is not an integer is not an entry.
    assert.equal(hoverSubject('struct page *', 'vmf->pte', '0x0'), undefined);
  });

  test('pointers: the address gdb shows, none for NULL or non-pointers', () => {
    assert.deepEqual(hoverSubject('pgd_t *', 'init_mm.pgd', '0xffffffff82a0a000 <init_top_pgt>'), { kind: 'pointer', address: 0xffffffff82a0a000n });
    assert.deepEqual(hoverSubject('const char * const', 'filename', '0x7ffd1234 "/etc/passwd"'), { kind: 'pointer', address: 0x7ffd1234n });
    assert.deepEqual(hoverSubject('unsigned long *', '&jiffies', '(unsigned long *) 0xffffffff82a079c0 <jiffies>'), { kind: 'pointer', address: 0xffffffff82a079c0n });
    assert.equal(hoverSubject('struct task_struct *', 'p', '0x0'), undefined);
    assert.equal(hoverSubject('unsigned long', 'jiffies', '4294892296'), undefined);
    assert.equal(hoverSubject('struct task_struct', 'init_task', '{...}'), undefined);
    assert.equal(hoverSubject('void (*)(void)', 'fn', '0xffffffff81000000 <start_kernel>'), undefined);
    assert.equal(hoverSubject(undefined, 'x', '0x1'), undefined);
    assert.equal(parseAddress('<optimized out>'), undefined);
  });

  test('the one integer in gdb’s print of an entry, however deep the folding nests it', () => {
    assert.deepEqual(entryValue(`{pte = ${0x8000000002a001e3n}}`), { value: 0x8000000002a001e3n, text: '{pte = 0x8000000002a001e3}' });
    // arm64 3-level: pud_t is { p4d_t p4d; } and p4d_t is { pgd_t pgd; }.
    assert.deepEqual(entryValue(`{p4d = {pgd = {pgd = ${0x7600c003n}}}}`), { value: 0x7600c003n, text: '{p4d = {pgd = {pgd = 0x7600c003}}}' });
    assert.deepEqual(entryValue('0x68000061020713'), { value: 0x68000061020713n, text: '0x68000061020713' });
    assert.equal(entryValue('{pte = 1, other = 2}'), undefined);
    assert.equal(entryValue('<optimized out>'), undefined);
  });

  test('page sizes in binary units', () => {
    assert.deepEqual([4096, 65536, 2 << 20, 1 << 30, 512].map(formatPageSize), ['4 KiB', '64 KiB', '2 MiB', '1 GiB', '512 bytes']);
  });
});

/** A backend that decodes as the adapter does (decodeEntry/entryToJson) and records requests. */
function backend(arch: Arch, paging: PagingOverride, prints: Record<string, string>, walkResult?: CustomRequests['kdap/walk']['result']) {
  const requests: { command: string; args: unknown }[] = [];
  const b: HoverBackend = {
    print: async (e) => {
      if (!(e in prints)) throw new Error(`No symbol "${e}" in current context.`);
      return prints[e];
    },
    request: async (command, args) => {
      requests.push({ command, args });
      if (command === 'kdap/walk') {
        if (!walkResult) throw new Error('no walk');
        return walkResult;
      }
      const a = args as CustomRequests['kdap/decodePte']['args'];
      return entryToJson(decodeEntry(arch, BigInt(a.value), a.level, paging));
    },
  };
  return { b, requests };
}

const body = (result: string, type: string): DebugProtocol.EvaluateResponse['body'] => ({ result, type, variablesReference: 7 });

describe('hover: the decoration', () => {
  test('an x86_64 pte_t: its value in hex, then the PTE decode with the frame’s physical address', async () => {
    const value = 0x8000000002a001e3n;
    const { b, requests } = backend('x86_64', {}, { 'vmf->orig_pte': `{pte = ${value}}` });
    const out = await decorateHover(body('{...}', 'pte_t'), 'vmf->orig_pte', b);
    const phys = `0x${(value & x86PfnMask).toString(16)}`;
    assert.equal(phys, '0x2a00000');
    assert.equal(out.variablesReference, 7, 'the value stays expandable');
    assert.equal(out.result, `{pte = 0x8000000002a001e3}${hoverSeparator}PTE/PTE page → phys ${phys}: kernel RW-, user ---, WB, global, dirty`);
    assert.deepEqual(requests, [{ command: 'kdap/decodePte', args: { value: '0x8000000002a001e3', level: 'PTE' } }]);
  });

  test('an arm64 64K-page pteval_t: 0x68000061020713 maps phys 0x61020000', async () => {
    const value = 0x68000061020713n;
    assert.equal(value & arm64Addr64K, 0x61020000n);
    const { b } = backend('arm64', { granule: 65536, vaBits: 48, mair: 0x40044ffffn }, {});
    const out = await decorateHover(body(String(value), 'pteval_t'), 'pte.pte', b);
    assert.match(out.result, /^0x68000061020713  ·  L3\/PTE page → phys 0x61020000: kernel RW-, user ---, /);
  });

  test('a table entry names the next table, not a physical page', async () => {
    const { b } = backend('x86_64', {}, { pmd: `{pmd = ${0x2a16063n}}` });
    const out = await decorateHover(body('{...}', 'pmd_t'), 'pmd', b);
    assert.equal(out.result, `{pmd = 0x2a16063}${hoverSeparator}PMD/PMD table: next table 0x2a16000`);
  });

  test('a level the configuration folds decodes as the level above (4-level x86: p4d_t is the PGD entry)', async () => {
    const { b, requests } = backend('x86_64', {}, { p4d: `{p4d = ${0x2a16063n}}` });
    const out = await decorateHover(body('{...}', 'p4d_t'), 'p4d', b);
    assert.deepEqual(requests.map((r) => (r.args as { level: string }).level), ['P4D', 'PGD']);
    assert.match(out.result, /  ·  PGD\/PGD table: next table 0x2a16000$/);
  });

  test('a pointer gets its walk on the hovered frame’s CPU', async () => {
    const walk: CustomRequests['kdap/walk']['result'] = {
      va: '0xffffffff82a079c0', phys: '0x2a079c0', pageSize: 2 << 20, levels: [], fault: null, summary: 'kernel RW-, user ---, WB, global, dirty',
    };
    const { b, requests } = backend('x86_64', {}, {}, walk);
    const out = await decorateHover(body('0xffffffff82a079c0 <jiffies_64>', 'u64 *'), '&jiffies_64', b, 1);
    assert.equal(out.result, `0xffffffff82a079c0 <jiffies_64>${hoverSeparator}→ phys 0x2a079c0, 2 MiB page: kernel RW-, user ---, WB, global, dirty`);
    assert.deepEqual(requests, [{ command: 'kdap/walk', args: { va: '0xffffffff82a079c0', cpu: 1 } }]);
    assert.equal(formatWalk({ ...walk, phys: null, pageSize: null, summary: undefined, fault: 'PMD[21] = 0x0: PMD entry not present (P=0)' }),
      '→ not mapped: PMD[21] = 0x0: PMD entry not present (P=0)');
  });

  test('anything else, or a failing request, leaves gdb’s answer as it was', async () => {
    const { b, requests } = backend('x86_64', {}, {});
    const plain = body('4294892296', 'unsigned long');
    assert.equal(await decorateHover(plain, 'jiffies', b), plain);
    assert.equal(requests.length, 0);
    const failing = body('0xffff888004a88cc0 <init_task>', 'struct task_struct *');
    assert.equal(await decorateHover(failing, '&init_task', b), failing, 'the walk failed');
    const unprintable = body('{...}', 'pte_t');
    assert.equal(await decorateHover(unprintable, 'ptep_get(ptep)', b), unprintable, 'gdb could not print it');
  });

  test('formatDecode of a non-present entry', () => {
    assert.equal(formatDecode(entryToJson(decodeEntry('x86_64', 0n, 'PTE'))), 'PTE/PTE not present: PTE entry not present (P=0)');
  });
});
