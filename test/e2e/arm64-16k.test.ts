/**
 * 16K pages on a live kernel: Debian's arm64-16k build (CONFIG_ARM64_16K_PAGES, VA_BITS 52 with
 * LPA2) under `-cpu max`, whose LPA2 makes the kernel run with 52-bit VAs, TCR_EL1.DS=1 and four
 * levels (L0 resolves VA[51:47], 32 entries; L1–L3 11 bits each). kdap/walk must take the
 * granule and the level count from TCR_EL1; the oracle is QEMU's `monitor gva2gpa`, which walks
 * the same tables in QEMU's own code.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { CpuInfo } from '../../src/adapter/protocol';
import type { WalkResult } from '../../src/kernel/pagetable';
import { KdapClient } from '../support/dap';
import { arm64_16kFixture, loadFixtures } from '../support/fixtures';
import { adapterShell, gdbConsole, gva2gpa as oracleGva2gpa } from '../support/oracles';

const fixtures = loadFixtures();
const found = arm64_16kFixture();
const skip =
  process.env.KDAP_E2E_ARCH && process.env.KDAP_E2E_ARCH !== 'arm64' ? 'arm64 only' : 'missing' in found ? found.missing : false;

const PAGE_SHIFT = 14;
/** Bits each level below L0 resolves: a 16K table holds 2048 entries. */
const STRIDE = PAGE_SHIFT - 3;
const LEAF_SIZE: Readonly<Record<string, number>> = { L3: 16384, L2: 2 ** 25, L1: 2 ** 36 };

describe('16K pages on arm64 (Debian arm64-16k, -cpu max)', { concurrency: false, skip }, () => {
  const fx = 'missing' in found ? undefined : found;
  const dc = new KdapClient();
  const guest = adapterShell(dc, fixtures.guest.prompt);
  let thread = 1;
  /** VA bits of the kernel half, from TCR_EL1.T1SZ as QEMU reports it. */
  let vaBits = 0;
  const gva2gpa = (cpu: number, va: bigint) => oracleGva2gpa(dc, cpu, va);

  async function kernelCpu(): Promise<CpuInfo> {
    const cpus = (await dc.customRequest('kdap/cpus', {})).body.cpus as CpuInfo[];
    const k = cpus.find((c) => c.mode === 'kernel' && c.task);
    assert.ok(k, `no CPU in kernel mode: ${JSON.stringify(cpus)}`);
    return k;
  }

  before(async () => {
    await dc.start();
  });

  after(async () => {
    dc.saveLogs('arm64-16k');
    await dc.endLaunch();
  });

  test('boots to the shell with a 16K granule and 52-bit kernel VAs', async () => {
    assert.ok(fx);
    await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
    await Promise.all([
      dc.launch({
        name: '16k', type: 'kdap', request: 'launch', kernel: fx.kernel, vmlinux: fx.vmlinux, initrd: fx.initrd,
        append: fx.append, machine: fx.machine, cpu: fx.cpu, smp: 2, memory: '1G', stopAt: 'none', trace: true,
      }),
      dc.configurationSequence(),
    ]);
    // A generic distribution kernel under TCG with every FEAT_ of -cpu max: minutes, not seconds.
    await guest.waitForPrompt(480_000);
    const pause = dc.stopped('pause');
    await dc.pauseRequest({ threadId: thread });
    thread = (await pause).body.threadId!;
    const frameId = (await dc.topFrame(thread)).id;
    // The kernel's PAGE_SIZE, from its own DWARF: empty_zero_page is one page.
    const page = await dc.evaluateRequest({ expression: 'sizeof(empty_zero_page)', frameId, context: 'watch' });
    assert.equal(Number(page.body.result), 16384, `sizeof(empty_zero_page) = ${page.body.result}`);
    // TCR_EL1 as QEMU holds it, decoded here rather than by kdap: TG1 = 0b01 is 16K, DS = LPA2.
    const text = await gdbConsole(dc, 'p/x $TCR_EL1');
    const m = /= (0x[0-9a-f]+)/.exec(text);
    assert.ok(m, `p/x $TCR_EL1 said: ${text}`);
    const tcr = BigInt(m[1]);
    assert.equal((tcr >> 30n) & 3n, 1n, `TCR_EL1 ${m[1]}: TG1 is not 16K`);
    vaBits = 64 - Number((tcr >> 16n) & 0x3fn);
    assert.equal(vaBits, fx.vaBits, `TCR_EL1 ${m[1]}: the kernel runs with ${vaBits}-bit VAs, its config allows ${fx.vaBits}`);
    assert.equal((tcr >> 59n) & 1n, 1n, `TCR_EL1 ${m[1]}: DS (LPA2) is off`);
  });

  async function gdbNumber(expression: string, frameId: number): Promise<bigint> {
    const r = await dc.evaluateRequest({ expression: `(unsigned long)(${expression})`, frameId, context: 'watch' });
    const m = /^(0x[0-9a-f]+|\d+)/.exec(r.body.result);
    assert.ok(m, `${expression} = ${r.body.result}`);
    return BigInt(m[1]);
  }

  test('walks of kernel data, text, the direct map and a vmalloc stack take 16K levels and match gva2gpa', async () => {
    assert.ok(fx);
    const k = await kernelCpu();
    const frameId = (await dc.topFrame(k.threadId)).id;
    // The paused CPU mostly runs its idle task, and CPU 0's is init_task, in the kernel image.
    // init (pid 1), first on init_task's list, was forked: task_struct from the slab (direct
    // map), stack from vmalloc (VMAP_STACK).
    const init = await gdbNumber('(char *)init_task.tasks.next - (unsigned long)&((struct task_struct *)0)->tasks', frameId);
    assert.equal(await gdbNumber(`((struct task_struct *)${init})->pid`, frameId), 1n);
    const task = `0x${init.toString(16)}`;
    const stack = await gdbNumber(`((struct task_struct *)${task})->stack`, frameId);
    const [text, end] = [await gdbNumber('_text', frameId), await gdbNumber('_end', frameId)];
    // asm/memory.h with VA_BITS 52 and VA_BITS_MIN 47: the linear map is [−2^52, −2^46), then
    // modules, the image and vmalloc above.
    const top = 1n << 64n;
    assert.ok(init >= top - (1n << 52n) && init < top - (1n << 46n), `pid 1's task_struct ${task} is not in the linear map`);
    assert.ok(stack >= top - (1n << 46n) && (stack < text || stack >= end), `its stack 0x${stack.toString(16)} is not vmalloc'ed`);
    const cases = ['&jiffies_64', '&schedule', task, `((struct task_struct *)${task})->stack`];
    const leaves: string[] = [];
    for (const expr of cases) {
      const w = (await dc.customRequest('kdap/walk', { va: expr, cpu: k.cpu })).body as WalkResult;
      const path = `${expr} (${w.va}): ${w.levels.map((l) => `${l.level}[${l.index}] ${l.descriptor}`).join(' → ')}`;
      assert.equal(w.fault, null, `${path}: ${w.fault}`);
      const va = BigInt(w.va);
      // 52 bits over 16K tables: L0 takes the 5 bits left above L1 (VA[51:47]), so four levels.
      const topBits = vaBits - (PAGE_SHIFT + 3 * STRIDE);
      assert.equal(topBits, 5, `${vaBits}-bit VAs`);
      w.levels.forEach((l, i) => {
        assert.equal(l.level, `L${i}`, path);
        const shift = BigInt(PAGE_SHIFT + STRIDE * (3 - i));
        const mask = (1n << BigInt(i === 0 ? topBits : STRIDE)) - 1n;
        assert.equal(BigInt(l.index), (va >> shift) & mask, `${path}: ${l.level} index`);
      });
      assert.equal(w.levels[0].linuxLevel, 'PGD', path);
      const leaf = w.levels[w.levels.length - 1];
      assert.ok(leaf.leaf, path);
      assert.equal(w.pageSize, LEAF_SIZE[leaf.level], `${path}: leaf size`);
      const truth = await gva2gpa(k.cpu, va);
      assert.equal(w.phys, `0x${(truth as bigint).toString(16)}`, path);
      leaves.push(`${path} → ${w.phys}`);
    }
    // The stack is vmalloc'ed page by page: its leaf can only be a 16K page after four levels.
    assert.match(leaves[3], /L3\[\d+\] page → /, leaves.join('; '));
    console.log(`[16k] ${leaves.join('\n[16k] ')}`);
  });

  test('a walk from init_mm.pgd agrees with the CPU’s TTBR1 walk', async () => {
    const k = await kernelCpu();
    const viaCpu = (await dc.customRequest('kdap/walk', { va: '&jiffies_64', cpu: k.cpu })).body as WalkResult;
    const viaMm = (await dc.customRequest('kdap/walk', { va: '&jiffies_64', cpu: k.cpu, mm: 'kernel' })).body as WalkResult;
    assert.equal(viaMm.fault, null, viaMm.fault ?? '');
    assert.equal(viaMm.phys, viaCpu.phys);
    assert.deepEqual(viaMm.levels.map((l) => l.raw), viaCpu.levels.map((l) => l.raw));
  });
});
