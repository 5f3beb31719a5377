/**
 * The kernel views behind the custom requests `kdap/cpus`, `kdap/walk`, `kdap/decodePte` and
 * `kdap/dmesg`, shared by the DAP session and the CLI: kernel helpers from src/kernel over a
 * `ViewTarget`, with walks rooted by the connection's `PageTableRoots`. They answer only while
 * the target is stopped: memory read from a running kernel would be torn, and gdb cannot read
 * it anyway.
 */
import type { ThreadInfo } from '../gdb/mi/threads';
import { TranslationFault, hex } from '../kernel/arch/arch';
import { cpuMode, irqsDisabled } from '../kernel/cpu-mode';
import { onlineCpus } from '../kernel/cpumask';
import { initMmPgd, mmPgd } from '../kernel/mm';
import { AddressSpaceError, type PageTableRoots } from '../kernel/page-table-roots';
import { decodeEntry, entryToJson, toJson, walk, type Walk, type WalkOptions, type WalkResult } from '../kernel/pagetable';
import { archOps } from '../kernel/arch';
import { perCpuOffsets } from '../kernel/percpu';
import { preemptCount } from '../kernel/preempt';
import { formatRecords, printkRecords, PrintkError } from '../kernel/printk';
import { currentTask, readRq } from '../kernel/sched';
import { DebugInfoError } from '../kernel/struct';
import { FaultError, type Target } from '../kernel/target';
import { findProcess, readTask } from '../kernel/task';
import { bestEffort, UserError } from './errors';
import type { CpuInfo, DecodedPte, DecodePteArgs, DmesgArgs, DmesgResult, WalkArgs } from './json';

/** A CPU of the stopped kernel: its number, the gdb thread that shows it, and that thread's top frame. */
export interface CpuThread {
  cpu: number;
  threadId: number;
  info: ThreadInfo;
}

/** What the views need beyond a Target: the CPUs of this stop, and C expressions. */
export interface ViewTarget extends Target {
  threads(): Promise<CpuThread[]>;
  /**
   * Runs a walk with its physical reads batched (one physical-mode switch), where the target
   * has such a mode; `fn` may read physical memory and registers read before.
   */
  physicalBatch?<T>(fn: () => Promise<T>): Promise<T>;
  /** Value of a C expression as a 64-bit unsigned number (`&jiffies`, `init_task.stack`). */
  evaluateAddress(expression: string): Promise<bigint>;
}

/** Whether the kernel is stopped now, and which thread stopped it. */
export interface RunState {
  stopped(): boolean;
  stoppedThread(): number | undefined;
}

export type KernelRequest = 'kdap/cpus' | 'kdap/walk' | 'kdap/decodePte' | 'kdap/dmesg';

export class KernelViews<T extends ViewTarget = ViewTarget> {
  constructor(
    readonly target: T,
    private readonly run: RunState,
    private readonly roots: PageTableRoots,
  ) {}

  /**
   * Answers one kernel request. Kernel helpers that find the debug info lacking a symbol or
   * struct they need say so to the user rather than failing obscurely.
   */
  async request(command: KernelRequest, args: unknown): Promise<unknown> {
    try {
      switch (command) {
        case 'kdap/cpus':
          return { cpus: await this.cpus() };
        case 'kdap/walk':
          return await this.walk((args ?? {}) as WalkArgs);
        case 'kdap/decodePte':
          return await this.decodePte((args ?? {}) as DecodePteArgs);
        case 'kdap/dmesg':
          return await this.dmesg((args ?? {}) as DmesgArgs);
      }
    } catch (e) {
      if (e instanceof DebugInfoError) throw new UserError(`${e.message}: this kernel view needs it.`);
      throw e;
    }
  }

  async cpus(): Promise<CpuInfo[]> {
    this.requireStopped('see the CPUs');
    const t = this.target;
    const threads = await t.threads();
    // Before the kernel runs (QEMU -S, at the reset vector) nothing of it can be read yet.
    const [offsets, online] = await Promise.all([unlessFault(perCpuOffsets(t, threads.length)), unlessFault(onlineCpus(t, threads.length))]);
    return Promise.all(threads.map((thread) => this.cpu(thread, offsets?.[thread.cpu], online)));
  }

  private async cpu(thread: CpuThread, offset: bigint | undefined, online: Set<number> | undefined): Promise<CpuInfo> {
    const t = this.target;
    const { cpu, threadId, info } = thread;
    const mode = await cpuMode(t, cpu);
    const frame = info.frame;
    const out: CpuInfo = {
      cpu,
      threadId,
      state: 'unknown',
      mode,
      ...(frame?.address !== undefined ? { pc: hex(frame.address) } : {}),
      // gdb names user and real-mode addresses after whatever kernel symbol sits there.
      ...(mode === 'kernel' && frame?.func && frame.func !== '??' ? { function: frame.func } : {}),
      ...(mode === 'kernel' && frame?.file ? { file: frame.file, line: frame.line } : {}),
      ...(offset !== undefined ? { perCpuOffset: hex(offset) } : {}),
    };
    const irqs = await irqsDisabled(t, cpu);
    if (irqs !== undefined) out.irqsDisabled = irqs;
    // A vCPU with its MMU off (reset, firmware, never started) is not running Linux. The mask
    // is empty until boot_cpu_init() marks the boot CPU, early in start_kernel().
    if (mode === 'unknown' || (online && online.size > 0 && !online.has(cpu))) return { ...out, state: 'offline' };
    // Early in boot (before setup_per_cpu_areas) per-CPU data is not where it will be: what
    // cannot be read yet is left out rather than failing the whole view.
    const current = unlessFault(currentTask(t, cpu).then((a) => (a === 0n ? undefined : readTask(t, a))));
    const [task, rq] = await Promise.all([current, unlessFault(readRq(t, cpu))]);
    if (rq) out.nrRunning = rq.nrRunning;
    if (!task) return out;
    out.task = { comm: task.comm, pid: task.pid, address: hex(task.address) };
    // An extra: a kernel whose debug info lacks the counter still gets its CPU view.
    const preempt = await bestEffort(preemptCount(t, cpu, task.address), 'reading preempt_count');
    if (preempt) out.preemptCount = preempt.count;
    // pid 0 is the CPU's idle task (swapper/N): the CPU has nothing else to run.
    out.state = task.pid === 0 ? 'idle' : /\[halted/.test(info.details ?? '') ? 'halted' : 'running';
    return out;
  }

  async walk(args: WalkArgs): Promise<WalkResult> {
    this.requireStopped('walk page tables');
    const t = this.target;
    if (typeof args?.va !== 'string' || args.va.trim() === '') throw new UserError('kdap/walk needs "va": an address or a C expression.');
    const va = await this.address(args.va.trim());
    let asked: Promise<number> | undefined;
    const cpu = () => (asked ??= this.cpuArg(args.cpu));
    const mm = args.mm ?? 'cpu';
    try {
      if (mm === 'cpu') return toJson(await this.walkBatched(va, await this.roots.cpu(cpu, va)));
      if (mm === 'kernel') return toJson(await this.walkBatched(va, await this.roots.table(await initMmPgd(t), cpu)));
      if (mm.startsWith('pid:')) {
        const pid = Number(mm.slice(4));
        if (!Number.isSafeInteger(pid) || pid <= 0) throw new UserError(`"mm" must be kernel, cpu or pid:N, not ${JSON.stringify(mm)}.`);
        const task = await findProcess(t, pid);
        if (task === undefined) throw new UserError(`No process with pid ${pid} (thread ids other than a process's own are not searched).`);
        const info = await readTask(t, task);
        if (info.mm === 0n) throw new UserError(`pid ${pid} (${info.comm}) is a kernel thread: it has no address space of its own.`);
        return toJson(await this.walkBatched(va, await this.roots.table(await mmPgd(t, info.mm), cpu)));
      }
    } catch (e) {
      if (e instanceof AddressSpaceError) throw new UserError(e.message);
      throw e;
    }
    throw new UserError(`"mm" must be kernel, cpu or pid:N, not ${JSON.stringify(mm)}.`);
  }

  /** A walk whose table reads share one physical-mode switch; its registers are read first. */
  private async walkBatched(va: bigint, options: WalkOptions): Promise<Walk> {
    const t = this.target;
    if (!t.physicalBatch) return walk(t, va, options);
    if (options.cpu !== undefined || options.config === undefined) await t.registers(options.cpu ?? 0, archOps(t.arch).paging.registers);
    return t.physicalBatch(() => walk(t, va, options));
  }

  async decodePte(args: DecodePteArgs): Promise<DecodedPte> {
    this.requireStopped('decode page-table entries with this CPU’s paging configuration');
    let value: bigint;
    try {
      value = BigInt(String(args?.value ?? '').trim());
    } catch {
      throw new UserError(`"value" must be a number such as 0x8000000002a001e3, not ${JSON.stringify(args?.value)}.`);
    }
    const { config, registers } = await this.roots.decoding(() => this.cpuArg(undefined));
    try {
      return entryToJson(decodeEntry(this.target.arch, BigInt.asUintN(64, value), args.level, config, registers));
    } catch (e) {
      if (e instanceof TranslationFault) throw new UserError(e.message);
      throw e;
    }
  }

  /** The kernel log of the stopped kernel, read from its memory (src/kernel/printk.ts). */
  async dmesg(args: DmesgArgs): Promise<DmesgResult> {
    this.requireStopped('read the kernel log');
    try {
      const log = await printkRecords(this.target);
      return {
        text: formatRecords(log.records, { callerId: args?.callerId === true }),
        records: log.records.map((r) => ({
          seq: Number(r.seq),
          tsNsec: r.tsNsec.toString(),
          ...(r.level !== undefined ? { level: r.level } : {}),
          facility: r.facility,
          ...(r.callerId !== undefined ? { callerId: r.callerId } : {}),
          text: r.text,
        })),
        format: log.format,
        lost: log.lost,
        truncated: log.truncated,
        bytesRead: log.bytesRead,
        reads: log.reads,
      };
    } catch (e) {
      if (e instanceof PrintkError) throw new UserError(`Cannot read the kernel log: ${e.message}`);
      throw e;
    }
  }

  private requireStopped(what: string): void {
    if (!this.run.stopped()) throw new UserError(`The target is running: pause it to ${what}.`);
  }

  /** A number as given, else a C expression gdb evaluates (`&jiffies`, `init_task.stack`). */
  private async address(text: string): Promise<bigint> {
    if (/^(0x[0-9a-fA-F]+|\d+)$/.test(text)) return BigInt(text);
    try {
      return await this.target.evaluateAddress(text);
    } catch (e) {
      throw new UserError(`Cannot evaluate '${text}': ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** The CPU asked for, else the one that stopped (what the user is looking at), else 0. */
  private async cpuArg(cpu: number | undefined): Promise<number> {
    const threads = await this.target.threads();
    if (cpu === undefined) return threads.find((x) => x.threadId === this.run.stoppedThread())?.cpu ?? threads[0]?.cpu ?? 0;
    if (!Number.isInteger(cpu) || !threads.some((x) => x.cpu === cpu)) {
      throw new UserError(`No CPU ${cpu}: the target has CPUs ${threads.map((x) => x.cpu).join(', ')}.`);
    }
    return cpu;
  }
}

/** The value, or undefined when the target refused a read on the way. */
async function unlessFault<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof FaultError) return undefined;
    throw e;
  }
}
