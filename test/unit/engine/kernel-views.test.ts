/**
 * The kernel views over an in-memory kernel, for both arches and both ways of rooting a walk:
 * the CPU's paging registers (QEMU) and kernel data (kgdb, dumps). Each image plants two CPUs,
 * init_task, a process `sh` (pid 95) with its own page tables, a kernel thread, the per-CPU data
 * the CPU view reads, and the page tables of one kernel and one user address. Layouts and
 * entries are written here by hand (offsets as 6.1 has them, arm64 entries as read from the
 * fixture guest), never taken from src/.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DebugInfoProbe } from '../../../src/kernel/arch/arch';
import { MemoryImage } from '../../../src/kernel/memory-image';
import { kernelDataRoots, kernelLayout, registerRoots, type PageTableRoots } from '../../../src/kernel/page-table-roots';
import type { Arch } from '../../../src/kernel/target';
import { UserError } from '../../../src/engine/errors';
import { KernelViews, type CpuThread, type RunState, type ViewTarget } from '../../../src/engine/kernel-views';
import { writeChain } from '../kernel/page-table-builder';
import { layout, le, window } from '../kernel/planted';

/** A MemoryImage with what the views ask beyond a Target: the CPUs of the stop and C expressions. */
class ImageTarget extends MemoryImage implements ViewTarget {
  cpuThreads: CpuThread[] = [];
  readonly expressions = new Map<string, bigint>();

  async threads(): Promise<CpuThread[]> {
    return this.cpuThreads;
  }

  async evaluateAddress(expression: string): Promise<bigint> {
    const v = this.expressions.get(expression);
    if (v === undefined) throw new Error(`No symbol "${expression}" in current context.`);
    return v;
  }
}

const taskLayout = layout('task_struct', 9728, {
  thread_info: [0, 24, 'struct thread_info'],
  stack: [32, 8],
  tasks: [2192, 16, 'struct list_head'],
  mm: [2272, 8],
  pid: [2416, 4, 'pid_t'],
  tgid: [2420, 4, 'pid_t'],
  comm: [2976, 16, 'char [16]'],
});
const KEYS = { current: 0x1fcc0n, runqueues: 0x31980n, preempt: 0x1e000n };

interface Kernel {
  image: ImageTarget;
  /** A kernel address and where it is, a user address of `sh` and where it is. */
  kernelVa: bigint;
  kernelPa: bigint;
  userVa: bigint;
  userPa: bigint;
  probe: DebugInfoProbe;
  /** Per-CPU offsets, init_task and sh, for the CPU view. */
  offsets: bigint[];
  init: bigint;
  sh: bigint;
}

interface Plan {
  arch: Arch;
  /** Windows of kernel virtual memory: [va, pa, size] of the image, the linear map, the per-CPU areas. */
  windows: Array<[bigint, bigint, bigint]>;
  symbols: Record<string, bigint>;
  init: bigint;
  sh: bigint;
  kthread: bigint;
  shMm: bigint;
  shPgd: bigint;
  offsets: bigint[];
}

/** Plants the parts that do not depend on the arch: tasks, mms, per-CPU data. */
function plant(p: Plan): { image: ImageTarget; at: (va: bigint, value: bigint | number, size?: number) => void } {
  const image = new ImageTarget(p.arch, 2)
    .setLayout(taskLayout)
    .setLayout(layout('mm_struct', 1088, { pgd: [72, 8, 'pgd_t *'] }))
    .setLayout(layout('rq', 3264, { nr_running: [4, 4], curr: [2400, 8] }))
    .setLayout(layout('thread_info', 24, { flags: [0, 8], preempt_count: [8, 8, 'u64'], cpu: [16, 4] })) as ImageTarget;
  for (const [name, address] of Object.entries(p.symbols)) image.setSymbol(name, address);
  const windows = p.windows.map((w) => window(image, ...w));
  const at = (va: bigint, value: bigint | number, size = 8) => {
    const i = p.windows.findIndex(([start, , n]) => va >= start && va < start + n);
    if (i < 0) throw new RangeError(`0x${va.toString(16)} is outside the planted windows`);
    windows[i].int(va, value, size);
  };
  const task = (t: bigint, f: { pid: number; comm: string; mm: bigint; next: bigint; preempt: bigint }) => {
    at(t + 8n, f.preempt); // thread_info.preempt_count (arm64 keeps it there)
    at(t + 2192n, f.next + 2192n);
    at(t + 2272n, f.mm);
    at(t + 2416n, f.pid, 4);
    at(t + 2420n, f.pid, 4);
    const comm = new Uint8Array(16);
    comm.set(new TextEncoder().encode(f.comm));
    for (let i = 0; i < 16; i += 8) at(t + 2976n + BigInt(i), new DataView(comm.buffer).getBigUint64(i, true));
  };
  task(p.init, { pid: 0, comm: 'swapper/0', mm: 0n, next: p.sh, preempt: 0n });
  task(p.sh, { pid: 95, comm: 'sh', mm: p.shMm, next: p.kthread, preempt: 1n });
  task(p.kthread, { pid: 2, comm: 'kthreadd', mm: 0n, next: p.init, preempt: 0n });
  at(p.shMm + 72n, p.shPgd);
  at(p.symbols.init_mm + 72n, p.symbols.swapper_pgd);
  p.offsets.forEach((o, cpu) => {
    at(p.symbols.__per_cpu_offset + BigInt(cpu) * 8n, o);
    at(o + KEYS.current, cpu === 0 ? p.init : p.sh);
    at(o + KEYS.runqueues + 4n, cpu, 4);
    at(o + KEYS.runqueues + 2400n, cpu === 0 ? p.init : p.sh);
    // x86 keeps PREEMPT_NEED_RESCHED inverted in bit 31.
    at(o + KEYS.preempt, 0x80000000n | BigInt(cpu), 4);
  });
  at(p.symbols.__cpu_online_mask, 0b11n);
  image.cpuThreads = [
    { cpu: 0, threadId: 1, info: { id: 1, targetId: 'Thread 1.1', state: 'stopped', details: 'CPU#0 [halted ]', frame: { level: 0, address: p.symbols.default_idle, func: 'default_idle' } } },
    { cpu: 1, threadId: 2, info: { id: 2, targetId: 'Thread 1.2', state: 'stopped', details: 'CPU#1 [running]', frame: { level: 0, address: p.symbols.do_sys_openat2, func: 'do_sys_openat2', file: 'fs/open.c', line: 1338 } } },
  ];
  return { image, at };
}

/** x86_64, 4-level: the fixture's jiffies walk, and sh's user page at 0x55d4c0001000. */
function x86(): Kernel {
  const sh = 0xffff888005460000n;
  const offsets = [0xffff88801f400000n, 0xffff88801f500000n];
  const symbols = {
    init_task: 0xffffffff82a1aa40n, init_mm: 0xffffffff82a19d00n, phys_base: 0xffffffff82a20000n,
    __per_cpu_offset: 0xffffffff8239cb60n, __cpu_online_mask: 0xffffffff82a21000n, swapper_pgd: 0xffffffff82a10000n,
    current_task: KEYS.current, runqueues: KEYS.runqueues, __preempt_count: KEYS.preempt,
    default_idle: 0xffffffff81e00000n, do_sys_openat2: 0xffffffff81354f00n,
  };
  const { image } = plant({
    arch: 'x86_64', symbols, init: symbols.init_task, sh, kthread: sh + 0x4000n, shMm: 0xffff888005443c00n, shPgd: 0xffff88800543c000n, offsets,
    windows: [
      [0xffffffff82000000n, 0x2000000n, 0x1000000n],
      [0xffff888005400000n, 0x5400000n, 0x100000n],
      [offsets[0], 0x1f400000n, 0x200000n],
    ],
  });
  image.setSymbol('__pgtable_l5_enabled', 0xffffffff82a20008n);
  const kernelVa = 0xffffffff82a079c0n;
  writeChain(image, kernelVa, [
    { table: 0x2a10000n, shift: 39, bits: 9, entry: 0x2a15067n },
    { table: 0x2a15000n, shift: 30, bits: 9, entry: 0x2a16063n },
    { table: 0x2a16000n, shift: 21, bits: 9, entry: 0x8000000002a001e3n },
  ]);
  const userVa = 0x55d4c0001234n;
  writeChain(image, userVa, [
    { table: 0x543c000n, shift: 39, bits: 9, entry: 0x5440067n },
    { table: 0x5440000n, shift: 30, bits: 9, entry: 0x5441067n },
    { table: 0x5441000n, shift: 21, bits: 9, entry: 0x5442067n },
    { table: 0x5442000n, shift: 12, bits: 9, entry: 0x8000000007777867n },
  ]);
  image.setRegisters(0, { cs: 0x10n, eflags: 0x246n, cr0: 0x80050033n, cr3: 0x2a10000n, cr4: 0x6b0n });
  image.setRegisters(1, { cs: 0x10n, eflags: 0x46n, cr0: 0x80050033n, cr3: 0x543c000n, cr4: 0x6b0n });
  image.expressions.set('&jiffies', kernelVa);
  return { image, kernelVa, kernelPa: 0x2a079c0n, userVa, userPa: 0x7777234n, probe: { sizeOf: async () => undefined, pageTableLevels: async () => 4 }, offsets, init: symbols.init_task, sh };
}

/** arm64, 4K pages, 48-bit VAs: the fixture's jiffies walk, and sh's user page at 0xaaaad0001234. */
function arm64(): Kernel {
  const sh = 0xffff000002060000n;
  const offsets = [0xffff000003000000n, 0xffff000003100000n];
  const symbols = {
    init_task: 0xffff800009a1aa40n, init_mm: 0xffff800009a19d00n, memstart_addr: 0xffff800009a20000n, kimage_voffset: 0xffff800009a20008n,
    __per_cpu_offset: 0xffff800009a0cb60n, __cpu_online_mask: 0xffff800009a21000n, swapper_pgd: 0xffff80000937b000n,
    __entry_task: KEYS.current, runqueues: KEYS.runqueues,
    default_idle: 0xffff800008e00000n, do_sys_openat2: 0xffff800008354f00n,
  };
  // The image at kimage_voffset 0xffff7fffc7e00000, the linear map from memstart_addr 0x40000000.
  const { image, at } = plant({
    arch: 'arm64', symbols, init: symbols.init_task, sh, kthread: sh + 0x4000n, shMm: 0xffff000002043c00n, shPgd: 0xffff000002000000n, offsets,
    windows: [
      [0xffff800009000000n, 0x41200000n, 0x1000000n],
      [0xffff000002000000n, 0x42000000n, 0x2000000n],
    ],
  });
  at(symbols.memstart_addr, 0x40000000n);
  at(symbols.kimage_voffset, 0xffff7fffc7e00000n);
  const kernelVa = 0xffff8000098079c0n;
  writeChain(image, kernelVa, [
    { table: 0x4157b000n, shift: 39, bits: 9, entry: 0x100000005ffff003n },
    { table: 0x5ffff000n, shift: 30, bits: 9, entry: 0x100000005fffe003n },
    { table: 0x5fffe000n, shift: 21, bits: 9, entry: 0x00e8000041a00701n },
  ]);
  // swapper_pg_dir's 2 MiB of the image, and the linear map's first GiB as one L1 block, so a
  // walk can find the kernel's and sh's page tables.
  writeChain(image, symbols.swapper_pgd, [
    { table: 0x4157b000n, shift: 39, bits: 9, entry: 0x100000005ffff003n },
    { table: 0x5ffff000n, shift: 30, bits: 9, entry: 0x100000005fffe003n },
    { table: 0x5fffe000n, shift: 21, bits: 9, entry: 0x00e8000041400701n },
  ]);
  writeChain(image, 0xffff000002000000n, [
    { table: 0x4157b000n, shift: 39, bits: 9, entry: 0x5fff0003n },
    { table: 0x5fff0000n, shift: 30, bits: 9, entry: 0x0060000040000701n },
  ]);
  const userVa = 0xaaaad0001234n;
  writeChain(image, userVa, [
    { table: 0x42000000n, shift: 39, bits: 9, entry: 0x42001003n },
    { table: 0x42001000n, shift: 30, bits: 9, entry: 0x42002003n },
    { table: 0x42002000n, shift: 21, bits: 9, entry: 0x42003003n },
    { table: 0x42003000n, shift: 12, bits: 9, entry: 0x0020000043000743n },
  ]);
  const regs = { TCR_EL1: 0x500074b5503510n, TTBR1_EL1: 0x2e00004157b000n, MAIR_EL1: 0x40044ffffn, SCTLR: 0x200000034f4d91dn };
  image.setRegisters(0, { ...regs, cpsr: 0x600003c5n, TTBR0_EL1: 0x41ff0000n });
  image.setRegisters(1, { ...regs, cpsr: 0x60000005n, TTBR0_EL1: 0x42000000n });
  image.expressions.set('&jiffies', kernelVa);
  const probe = { sizeOf: async (e: string) => ({ empty_zero_page: 4096, swapper_pg_dir: 4096 })[e], pageTableLevels: async () => 4 };
  return { image, kernelVa, kernelPa: 0x41a079c0n, userVa, userPa: 0x43000234n, probe, offsets, init: symbols.init_task, sh };
}

const stopped: RunState = { stopped: () => true, stoppedThread: () => 2 };
const hex = (v: bigint) => `0x${v.toString(16)}`;

function views(k: Kernel, roots: 'registers' | 'kernel-data', run: RunState = stopped): KernelViews<ImageTarget> {
  const strategy: PageTableRoots = roots === 'registers' ? registerRoots(k.image) : kernelDataRoots(k.image, () => kernelLayout(k.image, k.probe));
  return new KernelViews(k.image, run, strategy);
}

for (const [arch, build] of [['x86_64', x86], ['arm64', arm64]] as const) {
  describe(`kernel views, ${arch}`, () => {
    for (const roots of ['registers', 'kernel-data'] as const) {
      test(`${roots}: a CPU walk of a kernel address, given as a C expression`, async () => {
        const k = build();
        const w = await views(k, roots).walk({ va: '&jiffies', cpu: 0 });
        assert.equal(w.va, hex(k.kernelVa));
        assert.equal(w.phys, hex(k.kernelPa));
        assert.equal(w.pageSize, 2 * 1024 * 1024);
        assert.equal(w.fault, null);
      });

      test(`${roots}: a task walk (mm->pgd of pid 95) and a CPU walk on the CPU that runs it agree`, async () => {
        const k = build();
        const v = views(k, roots);
        const byTask = await v.walk({ va: hex(k.userVa), mm: 'pid:95' });
        assert.equal(byTask.phys, hex(k.userPa));
        assert.equal(byTask.levels.length, 4);
        assert.equal(byTask.levels[3].leaf, true);
        const byCpu = await v.walk({ va: hex(k.userVa), cpu: 1 });
        assert.deepEqual(byCpu, byTask);
      });

      test(`${roots}: init_mm walks a kernel address from any CPU`, async () => {
        const k = build();
        const w = await views(k, roots).walk({ va: hex(k.kernelVa), cpu: 1, mm: 'kernel' });
        assert.equal(w.phys, hex(k.kernelPa));
      });

      test(`${roots}: no such process, a kernel thread, a bad mm: errors for the user`, async () => {
        const v = views(build(), roots);
        await assert.rejects(v.walk({ va: '0x1000', mm: 'pid:4242' }), (e: unknown) => e instanceof UserError && /No process with pid 4242/.test(e.message));
        await assert.rejects(v.walk({ va: '0x1000', mm: 'pid:2' }), (e: unknown) => e instanceof UserError && /kthreadd\) is a kernel thread/.test(e.message));
        await assert.rejects(v.walk({ va: '0x1000', mm: 'pid:x' as `pid:${number}` }), /"mm" must be kernel, cpu or pid:N/);
        await assert.rejects(v.walk({ va: 'no_such_symbol' }), (e: unknown) => e instanceof UserError && /Cannot evaluate 'no_such_symbol'/.test(e.message));
        await assert.rejects(v.walk({ va: '0x1000', cpu: 7 }), /No CPU 7: the target has CPUs 0, 1/);
      });
    }

    test('kernel data: a user address on a CPU that runs a kernel thread has no address space to walk', async () => {
      const k = build();
      await assert.rejects(views(k, 'kernel-data').walk({ va: hex(k.userVa), cpu: 0 }), (e: unknown) => e instanceof UserError && /swapper\/0 \[0\] is a kernel thread/.test(e.message));
    });

    test('kernel data: entry addresses through the direct map the kernel data places', async () => {
      const k = build();
      const w = await views(k, 'kernel-data').walk({ va: hex(k.userVa), cpu: 1 });
      const first = w.levels[0];
      assert.notEqual(first.entryAddress, first.entryPhysical);
      // The top table is sh's pgd, whose virtual address was planted.
      const pgd = BigInt(first.entryAddress) - (BigInt(first.entryPhysical) & 0xfffn);
      assert.equal(pgd, arch === 'x86_64' ? 0xffff88800543c000n : 0xffff000002000000n);
    });

    test('the CPU view: each CPU’s task, mode, interrupts, runqueue, preempt count and per-CPU offset', async () => {
      const k = build();
      const cpus = await views(k, 'registers').cpus();
      assert.deepEqual(cpus[0], {
        cpu: 0, threadId: 1, state: 'idle', mode: 'kernel', pc: hex(k.image.cpuThreads[0].info.frame!.address!), function: 'default_idle',
        perCpuOffset: hex(k.offsets[0]), irqsDisabled: arch === 'x86_64' ? false : true, nrRunning: 0,
        task: { comm: 'swapper/0', pid: 0, address: hex(k.init) }, preemptCount: 0,
      });
      assert.deepEqual(cpus[1], {
        cpu: 1, threadId: 2, state: 'running', mode: 'kernel', pc: hex(k.image.cpuThreads[1].info.frame!.address!), function: 'do_sys_openat2',
        file: 'fs/open.c', line: 1338, perCpuOffset: hex(k.offsets[1]), irqsDisabled: arch === 'x86_64', nrRunning: 1,
        task: { comm: 'sh', pid: 95, address: hex(k.sh) }, preemptCount: 1,
      });
    });

    test('decodePte with the stopped CPU’s paging configuration, or the kernel data’s', async () => {
      const k = build();
      const leaf = arch === 'x86_64' ? '0x8000000002a001e3' : '0x00e8000041a00701';
      const level = arch === 'x86_64' ? 'PMD' : 'L2';
      for (const roots of ['registers', 'kernel-data'] as const) {
        const d = await views(k, roots).decodePte({ value: leaf, level });
        assert.equal(d.phys, arch === 'x86_64' ? '0x2a00000' : '0x41a00000', roots);
        assert.match(d.summary, /kernel RW-/);
      }
      await assert.rejects(views(k, 'registers').decodePte({ value: 'garbage' }), /"value" must be a number/);
    });

    test('a running kernel is not read: every view says to pause it', async () => {
      const k = build();
      const v = views(k, 'registers', { stopped: () => false, stoppedThread: () => undefined });
      k.image.resetReads();
      await assert.rejects(v.cpus(), /running: pause it/);
      await assert.rejects(v.walk({ va: '&jiffies' }), /running: pause it/);
      await assert.rejects(v.decodePte({ value: '0x1' }), /running: pause it/);
      await assert.rejects(v.dmesg({}), /running: pause it/);
      assert.equal(k.image.reads.length, 0);
    });
  });
}

describe('kernel views: dmesg', () => {
  // struct printk_log (kernel/printk/printk.c before 5.10): the layout of the records in log_buf.
  const header = layout('printk_log', 16, { ts_nsec: [0, 8], len: [8, 2], text_len: [10, 2], dict_len: [12, 2], facility: [14, 1], flags: [15, 1, 'u8', 0, 5], level: [15, 1, 'u8', 5, 3] });

  function legacyLog(texts: Array<[ts: bigint, level: number, text: string]>): ImageTarget {
    const image = new ImageTarget('x86_64').setLayout(header) as ImageTarget;
    const vars = 0xffffffff82b00000n;
    const buf = 0xffff888006000000n;
    const w = window(image, vars, 0x2b00000n, 0x1000n);
    const b = window(image, buf, 0x6000000n, 0x1000n);
    image.setSymbol('log_buf', vars).setSymbol('log_buf_len', vars + 8n).setSymbol('log_first_idx', vars + 16n).setSymbol('log_next_idx', vars + 24n);
    let at = 0;
    for (const [ts, level, text] of texts) {
      const body = new TextEncoder().encode(text);
      const len = (16 + body.length + 7) & ~7;
      b.bytes(buf + BigInt(at), new Uint8Array([...le(ts, 8), ...le(len, 2), ...le(body.length, 2), 0, 0, 0, level << 5]));
      b.bytes(buf + BigInt(at + 16), body);
      at += len;
    }
    w.int(vars, buf);
    w.int(vars + 8n, 0x1000, 4);
    w.int(vars + 16n, 0, 4);
    w.int(vars + 24n, at, 4);
    return image;
  }

  test('registers: the kernel map is read at each walk while the kernel boots, then kept once it schedules', async () => {
    const k = x86();
    const systemState = 0xffffffff82a20010n;
    k.image.setSymbol('system_state', systemState);
    const v = views(k, 'registers');
    const physBaseReads = () => k.image.reads.filter((r) => r.space === 'virtual' && r.address === 0xffffffff82a20000n).length;
    const first = await v.walk({ va: '&jiffies', cpu: 0 });
    await v.walk({ va: '&jiffies', cpu: 0 });
    assert.equal(physBaseReads(), 2, 'SYSTEM_BOOTING: KASLR may still move the direct map');
    k.image.writePhysical(0x2a20010n, le(1, 4)); // SYSTEM_SCHEDULING
    await v.walk({ va: '&jiffies', cpu: 0 });
    const settled = physBaseReads();
    const later = await v.walk({ va: '&jiffies', cpu: 0 });
    assert.equal(physBaseReads(), settled);
    assert.deepEqual(later, first);
  });

  test('the log as dmesg prints it, and its records', async () => {
    const image = legacyLog([[0n, 5, 'Linux version 5.4.0'], [1_234_567_890n, 6, 'hello\nworld']]);
    const log = await new KernelViews(image, stopped, registerRoots(image)).dmesg({});
    assert.equal(log.text, '[    0.000000] Linux version 5.4.0\n[    1.234567] hello\n[    1.234567] world\n');
    assert.deepEqual(log.records.map((r) => [r.seq, r.tsNsec, r.level, r.text]), [[0, '0', 5, 'Linux version 5.4.0'], [1, '1234567890', 6, 'hello\nworld']]);
    assert.equal(log.format, 'legacy');
  });

  test('a kernel without a log this knows is a message, not a crash', async () => {
    const image = new ImageTarget('x86_64');
    await assert.rejects(new KernelViews(image, stopped, registerRoots(image)).request('kdap/dmesg', {}), (e: unknown) => e instanceof UserError && /this kernel view needs it/.test(e.message));
  });
});
