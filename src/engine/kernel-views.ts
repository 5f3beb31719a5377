/**
 * The kernel views behind the custom requests `kdap/cpus`, `kdap/walk`, `kdap/decodePte` and
 * `kdap/dmesg`, shared by the DAP session and the CLI: kernel helpers from src/kernel over one
 * LiveTarget per engine. They answer only while the target is stopped: memory read from a running kernel
 * would be torn, and gdb cannot read it anyway.
 */
import { archOps } from '../kernel/arch';
import { TranslationFault } from '../kernel/arch/arch';
import { onlineCpus } from '../kernel/cpumask';
import { initMmPgd, kernelPhys, mmPgd } from '../kernel/mm';
import { decodeEntry, entryToJson, toJson, walk, type WalkJson } from '../kernel/pagetable';
import { perCpuOffsets } from '../kernel/percpu';
import { preemptCount } from '../kernel/preempt';
import { formatRecords, printkRecords, PrintkError } from '../kernel/printk';
import { currentTask, readRq } from '../kernel/sched';
import { DebugInfoError } from '../kernel/struct';
import { FaultError, type Arch } from '../kernel/target';
import { findProcess, readTask } from '../kernel/task';
import type { Engine } from './engine';
import { UserError } from './errors';
import { LiveTarget, type CpuThread } from './live-target';
import type { CpuInfo, DecodedPte, DecodePteArgs, DmesgArgs, DmesgResult, HexString, WalkArgs } from './json';

type KernelRequest = 'kdap/cpus' | 'kdap/walk' | 'kdap/decodePte';
const KERNEL_REQUESTS: readonly string[] = ['kdap/cpus', 'kdap/walk', 'kdap/decodePte'] satisfies KernelRequest[];

export function isKernelRequest(command: string): command is KernelRequest {
  return KERNEL_REQUESTS.includes(command);
}

const hex = (v: bigint): HexString => `0x${v.toString(16)}`;

export class KernelViews {
  readonly target: LiveTarget;

  constructor(private readonly engine: Engine, readonly arch: Arch) {
    this.target = new LiveTarget(engine.gdb, arch, { qemu: () => engine.qemuStub, preferredThread: () => engine.stopInfo?.threadId });
    // Both: a step is a resume and a stop, and what was read before either is stale.
    engine.on('running', () => this.target.invalidate());
    engine.on('stopped', () => this.target.invalidate());
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
    const mode = await t.mode(cpu);
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
    const irqs = await t.irqsDisabled(cpu);
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
    const preempt = await preemptCount(t, cpu, task.address).catch(() => undefined);
    if (preempt) out.preemptCount = preempt.count;
    // pid 0 is the CPU's idle task (swapper/N): the CPU has nothing else to run.
    out.state = task.pid === 0 ? 'idle' : /\[halted/.test(info.details ?? '') ? 'halted' : 'running';
    return out;
  }

  async walk(args: WalkArgs): Promise<WalkJson> {
    this.requireStopped('walk page tables');
    const t = this.target;
    if (typeof args?.va !== 'string' || args.va.trim() === '') throw new UserError('kdap/walk needs "va": an address or a C expression.');
    const va = await this.address(args.va.trim());
    const cpu = await this.cpuArg(args.cpu);
    const map = await archOps(t.arch).memory.kernelMap(t, {});
    const mm = args.mm ?? 'cpu';
    let root: bigint | undefined;
    if (mm === 'kernel') {
      root = await kernelPhys(t, await initMmPgd(t), cpu, map);
    } else if (mm.startsWith('pid:')) {
      const pid = Number(mm.slice(4));
      if (!Number.isSafeInteger(pid) || pid <= 0) throw new UserError(`"mm" must be kernel, cpu or pid:N, not ${JSON.stringify(mm)}.`);
      const task = await findProcess(t, pid);
      if (task === undefined) throw new UserError(`No process with pid ${pid} (thread ids other than a process's own are not searched).`);
      const info = await readTask(t, task);
      if (info.mm === 0n) throw new UserError(`pid ${pid} (${info.comm}) is a kernel thread: it has no address space of its own.`);
      root = await kernelPhys(t, await mmPgd(t, info.mm), cpu, map);
    } else if (mm !== 'cpu') {
      throw new UserError(`"mm" must be kernel, cpu or pid:N, not ${JSON.stringify(mm)}.`);
    }
    return toJson(await walk(t, va, { cpu, root, directMap: map }));
  }

  async decodePte(args: DecodePteArgs): Promise<DecodedPte> {
    this.requireStopped('decode page-table entries with this CPU’s paging configuration');
    let value: bigint;
    try {
      value = BigInt(String(args?.value ?? '').trim());
    } catch {
      throw new UserError(`"value" must be a number such as 0x8000000002a001e3, not ${JSON.stringify(args?.value)}.`);
    }
    const cpu = await this.cpuArg(undefined);
    const registers = await this.target.registers(cpu, archOps(this.arch).paging.registers);
    try {
      return entryToJson(decodeEntry(this.arch, BigInt.asUintN(64, value), args.level, {}, registers));
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
    if (this.engine.state !== 'stopped') throw new UserError(`The target is running: pause it to ${what}.`);
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
    if (cpu === undefined) return threads.find((x) => x.threadId === this.engine.stopInfo?.threadId)?.cpu ?? threads[0]?.cpu ?? 0;
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

const views = new WeakMap<Engine, KernelViews>();

/** The views of one engine, created on first use and invalidated with its stops and resumes. */
export function kernelViews(engine: Engine, arch: Arch): KernelViews {
  let v = views.get(engine);
  if (!v) {
    v = new KernelViews(engine, arch);
    views.set(engine, v);
  }
  return v;
}

/**
 * Answers one kernel request; the body of the DAP response. Kernel helpers that find the debug
 * info lacking a symbol or struct they need say so to the user rather than failing obscurely.
 */
export async function kernelRequest(engine: Engine, arch: Arch, command: KernelRequest | 'kdap/dmesg', args: unknown): Promise<unknown> {
  const v = kernelViews(engine, arch);
  try {
    switch (command) {
      case 'kdap/cpus':
        return { cpus: await v.cpus() };
      case 'kdap/walk':
        return await v.walk((args ?? {}) as WalkArgs);
      case 'kdap/decodePte':
        return await v.decodePte((args ?? {}) as DecodePteArgs);
      case 'kdap/dmesg':
        return await v.dmesg((args ?? {}) as DmesgArgs);
    }
  } catch (e) {
    if (e instanceof DebugInfoError) throw new UserError(`${e.message}: this kernel view needs it.`);
    throw e;
  }
}
