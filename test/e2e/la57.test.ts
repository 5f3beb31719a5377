/**
 * 5-level paging on a live kernel: the Debian x86_64 kernel (CONFIG_X86_5LEVEL=y) under a QEMU
 * CPU with LA57, so the kernel switches to 5-level tables at boot. kdap/walk must notice it from
 * CR4.LA57 and walk five levels; the oracle is QEMU's `monitor gva2gpa`, which walks the same
 * tables in QEMU's own code.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { CpuInfo } from '../../src/adapter/protocol';
import type { WalkResult } from '../../src/kernel/pagetable';
import { KdapClient } from '../support/dap';
import { loadFixtures } from '../support/fixtures';
import { adapterShell, gva2gpa as oraclesGva2gpa } from '../support/oracles';

const fixtures = loadFixtures();
const fx = fixtures.arches.x86_64;
const skip = process.env.KDAP_E2E_ARCH && process.env.KDAP_E2E_ARCH !== 'x86_64' ? 'x86_64 only' : false;

describe('5-level paging on x86_64 (qemu64,+la57)', { concurrency: false, skip }, () => {
  const dc = new KdapClient();
  const guest = adapterShell(dc, fixtures.guest.prompt);
  let thread = 1;
  const gva2gpa = (cpu: number, va: bigint) => oraclesGva2gpa(dc, cpu, va);

  before(async () => {
    await dc.start();
  });

  after(async () => {
    dc.saveLogs('la57-x86_64');
    await dc.endLaunch();
  });

  test('boots to the shell with LA57 on', async () => {
    await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
    await Promise.all([
      dc.launch({ name: 'la57', type: 'kdap', request: 'launch', kernel: fx.kernel, vmlinux: fx.vmlinux, initrd: fx.initrd, append: fx.append, cpu: 'qemu64,+la57', smp: 2, memory: '512M', stopAt: 'none', trace: true }),
      dc.configurationSequence(),
    ]);
    await guest.waitForPrompt(240_000);
    const pause = dc.stopped('pause');
    await dc.pauseRequest({ threadId: thread });
    thread = (await pause).body.threadId!;
    // The kernel's own verdict, independent of kdap: pgtable_l5_enabled() reads this variable.
    const frameId = (await dc.topFrame(thread)).id;
    const l5 = await dc.evaluateRequest({ expression: '__pgtable_l5_enabled', frameId, context: 'watch' });
    assert.equal(Number(l5.body.result), 1, `__pgtable_l5_enabled = ${l5.body.result}`);
  });

  test('walks of kernel data, text, the direct map and a vmalloc stack take five levels and match gva2gpa', async () => {
    const cpus = (await dc.customRequest('kdap/cpus', {})).body.cpus as CpuInfo[];
    const k = cpus.find((c) => c.mode === 'kernel' && c.task);
    assert.ok(k, `no CPU in kernel mode: ${JSON.stringify(cpus)}`);
    const task = k.task!.address;
    const cases = ['&jiffies_64', '&schedule', task, `((struct task_struct *)${task})->stack`];
    for (const va of cases) {
      const w = (await dc.customRequest('kdap/walk', { va, cpu: k.cpu })).body as WalkResult;
      assert.equal(w.fault, null, `${va}: ${w.fault}`);
      // Leaves can be large pages (the kernel image and the direct map): every walk starts at the
      // PGD and goes through a P4D table that is not folded.
      assert.deepEqual(w.levels.slice(0, 2).map((l) => l.level), ['PGD', 'P4D'], `${va}: ${w.levels.map((l) => l.level).join(' → ')}`);
      if (w.pageSize === 4096) assert.equal(w.levels.length, 5, `${va}: 4K leaf after five levels`);
      const truth = await gva2gpa(k.cpu, BigInt(w.va));
      assert.equal(w.phys, `0x${(truth as bigint).toString(16)}`, `${va} (${w.va})`);
    }
  });

  test('a 57-bit kernel address beyond the 48-bit range is canonical and walks through PGD index ≥ 256', async () => {
    const cpus = (await dc.customRequest('kdap/cpus', {})).body.cpus as CpuInfo[];
    const k = cpus.find((c) => c.mode === 'kernel')!;
    // page_offset_base moves down to 0xff11000000000000 with LA57: the direct map itself is the proof.
    const frameId = (await dc.topFrame(k.threadId)).id;
    const pob = BigInt((await dc.evaluateRequest({ expression: '(unsigned long)page_offset_base', frameId, context: 'watch' })).body.result.split(' ')[0]);
    assert.ok(pob < 0xffff800000000000n, `page_offset_base 0x${pob.toString(16)} is in the 57-bit range`);
    const va = pob + 0x1000000n;
    const w = (await dc.customRequest('kdap/walk', { va: `0x${va.toString(16)}`, cpu: k.cpu })).body as WalkResult;
    assert.equal(w.fault, null);
    assert.equal(w.levels[0].index, Number((va >> 48n) & 0x1ffn));
    assert.equal(w.phys, `0x${((await gva2gpa(k.cpu, va)) as bigint).toString(16)}`);
  });
});
