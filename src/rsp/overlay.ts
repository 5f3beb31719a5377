/**
 * The task overlay: an RSP layer between gdb and a live stub (QEMU's gdbstub; kgdb through
 * kdap's kgdb proxy) that forwards everything and adds the kernel's tasks as threads, so gdb's
 * own DWARF unwinder gives a sleeping task its real stack, with arguments and locals.
 *
 * QEMU: the vCPUs keep QEMU's thread ids; tasks get ids from their pids (thread-id.ts) and
 * are listed only when exposed (task-threads.ts). A task thread's registers come from its
 * switch frame (a task on a vCPU is that vCPU); its memory reads go through a vCPU in kernel
 * mode; writing its registers, or stepping it, is refused, and continuing it continues the
 * kernel.
 *
 * kgdb: kgdb lists every task as a thread itself, but its `g` for a sleeping task is useless
 * on x86_64 (pc 0: sleeping_thread_to_gdb_regs() fills only sp and bp). The overlay answers `g`
 * and `p` for sleeping tasks from their switch frames instead, which also saves the register
 * fetch on the serial line.
 */
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type { DebugInfoSnapshot } from '../kernel/debug-info-snapshot';
import { probeSwitchFrame } from '../kernel/arch/task-ops';
import { probePid } from '../kernel/pid';
import { probeTasks, type TaskEntry } from '../kernel/tasks';
import { SwitchFrameError } from '../kernel/switch-frame';
import type { Arch, Target } from '../kernel/target';
import { RspClient } from './client';
import { RspLink, type LinkStats } from './link';
import { keepsMemory, StopReadCache } from './read-cache';
import { fromHex, hexText, registerHex } from './packet';
import { encodeG } from './registers';
import { listenForGdb, stopListening, ThreadListPager } from './serve-common';
import { shadowCpu, StubSession, type StubFlavour } from './stub';
import { TaskThreads, taskMonitorCommand, type TaskExposure } from './task-threads';
import { decodeTaskThreadId, formatThreadId, parseThreadId } from './thread-id';

/** What the overlay looks up in the debug info: record a DebugInfoSnapshot with these. */
export const overlayProbes = [probeTasks, probeSwitchFrame, probePid] as const;

export interface TaskOverlayOptions {
  arch: Arch;
  flavour: StubFlavour;
  /** The stub's connection (a socket to QEMU's gdbstub or to the kgdb proxy). */
  stub: Duplex;
  /** Symbols and layouts, recorded before gdb connects (overlayProbes). */
  debugInfo: Pick<DebugInfoSnapshot, 'withMemory'>;
  /** Which tasks are threads at first (QEMU only; default none). */
  exposure?: TaskExposure;
  /** Task-list reads: members closer than this share a read (see TaskWalkOptions). */
  mergeGap?: number;
  trace?: (direction: 'gdb' | 'stub', way: 'in' | 'out', text: string) => void;
}

export interface TaskOverlayEvents {
  warning: [string];
  /** Text the stub sent for gdb to print (`O` packets: kdb's answers to `monitor`, say). */
  output: [string];
  /** The stub or gdb went away; the overlay is closed. */
  closed: [string];
}

type Packet = string;

export class TaskOverlay extends EventEmitter<TaskOverlayEvents> {
  readonly tasks: TaskThreads;
  /** The kernel at the current stop, read through the stub between gdb's packets. */
  readonly target: Target;
  private readonly session: StubSession;
  private readonly client: RspClient;
  private server: net.Server | undefined;
  private gdb: RspLink | undefined;
  /** gdb's general thread (Hg), as gdb wrote it; `0` until it picks one. */
  private gdbG = '0';
  /** gdb's continue thread (Hc). */
  private gdbC = '0';
  private running = false;
  /** gdb's resume packets received and not yet passed on (they wait their turn in `queue`). */
  private resumesQueued = 0;
  /** gdb's interrupt byte came while its resume waited its turn: sent right behind the resume. */
  private interruptQueued = false;
  /** gdb switched QEMU's stub to physical reads (Qqemu.PhyMemMode:1) and has not switched back. */
  private physical = false;
  /** Kernel memory gdb read since the last stop (read-cache.ts). */
  private readonly reads = new StopReadCache();
  /** Reads answered from `reads` so far. */
  readsKept = 0;
  private lastStop: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly pager = new ThreadListPager();
  private closed = false;
  private closing: Promise<void> | undefined;
  /** gdb detached (or killed) through the overlay: the stub already knows. */
  private detached = false;

  constructor(private readonly options: TaskOverlayOptions) {
    super();
    this.client = new RspClient(options.stub, {
      timeoutMs: options.flavour === 'kgdb' ? 60_000 : 10_000,
      onOutput: (text) => {
        this.emit('output', text);
        this.gdb?.send(`O${hexText(text)}`);
      },
      onStop: (reply) => this.stopReply(reply),
      trace: options.trace && ((way, text) => options.trace!('stub', way, text)),
    });
    this.client.link.on('close', (why) => this.close(`the stub's connection closed: ${why}`));
    this.session = new StubSession(this.client, options.arch, options.flavour);
    this.target = options.debugInfo.withMemory(this.session.memory());
    // QEMU gets a read's packets back to back: what is left to save is bytes.
    const qemu = options.flavour === 'qemu';
    this.tasks = new TaskThreads(this.target, { mergeGap: options.mergeGap, exposure: options.exposure, readSize: qemu ? () => this.session.maxRead : undefined });
  }

  /** Opens the port gdb connects to (127.0.0.1, a free port unless given); resolves with it. */
  async listen(host = '127.0.0.1', port = 0): Promise<number> {
    const { server, port: got } = await listenForGdb((socket) => this.connected(socket), host, port);
    this.server = server;
    return got;
  }

  /** Bytes and packets on the stub's connection so far (gdb's forwarded and kdap's own). */
  get stubStats(): LinkStats {
    return this.client.link.stats;
  }

  /** The task list at this stop, read between gdb's packets. Refused while the kernel runs. */
  taskList(): Promise<TaskEntry[]> {
    return this.whileStopped(() => this.tasks.tasks());
  }

  /** Runs `fn` between gdb's packets while the kernel is stopped. */
  whileStopped<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running) return Promise.reject(new Error('the kernel is running: stop it to read its tasks'));
    const run = this.queue.then(() => this.virtually(fn));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Runs `fn` with the stub reading virtual memory: between gdb's packets QEMU may be in the
   * physical mode gdb turned on for a walk of its own, which is put back afterwards.
   */
  private async virtually<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.physical) return fn();
    await this.client.ask('Qqemu.PhyMemMode:0');
    try {
      return await fn();
    } finally {
      await this.client.ask('Qqemu.PhyMemMode:1');
    }
  }

  /** Ends both sides; every caller waits for the same end (the stub's detach included). */
  close(why = 'closed by kdap'): Promise<void> {
    this.closing ??= this.shutDown(why);
    return this.closing;
  }

  private async shutDown(why: string): Promise<void> {
    this.closed = true;
    this.gdb?.close();
    // QEMU halts the VM while a debugger is connected and resumes it only on a detach packet,
    // not when the connection drops: a gdb that went away without one (a failed attach) must
    // not leave the VM it found halted.
    // With multiprocess+ QEMU wants the process (`D;1`, its threads are p01.*); a bare D is E22.
    if (this.qemu && !this.detached && !this.running) {
      const answer = await this.client.ask('D;1', { timeoutMs: 2000 }).catch(() => 'E');
      if (answer !== 'OK') await this.client.ask('D', { timeoutMs: 2000 }).catch(() => undefined);
    }
    this.client.close();
    await stopListening(this.server);
    this.emit('closed', why);
  }

  // ---- gdb side ----

  private connected(socket: net.Socket): void {
    if (this.gdb?.open || this.closed) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const link = new RspLink(socket, this.options.trace && ((way, text) => this.options.trace!('gdb', way, text)));
    this.gdb = link;
    link.on('packet', (p) => {
      if (isResume(p.toString('latin1'))) this.resumesQueued++;
      const run = this.queue.then(() => this.answer(link, p));
      this.queue = run.catch(() => undefined);
    });
    // gdb sends its interrupt byte once and then waits for the stop. gdb 13 answers
    // -exec-continue before it sends the resume, so a Pause right after a Continue brings the
    // byte on the heels of a resume still waiting its turn here: it must follow that resume to
    // the stub, not be lost. With no resume running or waiting, the kernel is stopped and a
    // stop reply is on its way to gdb already.
    link.on('interrupt', () => {
      if (this.running) this.client.interrupt();
      else if (this.resumesQueued > 0) this.interruptQueued = true;
    });
    link.on('close', () => void this.close('gdb disconnected'));
  }

  private async answer(link: RspLink, payload: Buffer): Promise<void> {
    const p = payload.toString('latin1');
    const leaving = p === 'D' || p.startsWith('D;') || p === 'k' || p.startsWith('vKill');
    if (leaving) this.detached = true;
    if (!keepsMemory(p)) this.reads.clear();
    let reply: Packet | Buffer | undefined;
    try {
      // Only memory packets mean what gdb's physical mode says; the task reads others need are virtual.
      const direct = /^[mMXxcCsS]/.test(p) || p.startsWith('vCont;') || p.startsWith('Qqemu.PhyMemMode:');
      reply = await (direct ? this.reply(link, p, payload) : this.virtually(() => this.reply(link, p, payload)));
    } catch (e) {
      this.emit('warning', `answering ${p.slice(0, 40)}: ${(e as Error).message}`);
      reply = 'E01';
    }
    if (reply !== undefined) link.send(reply);
    if (p === 'QStartNoAckMode') link.noAck();
    if (leaving) void this.close('gdb detached');
  }

  private get qemu(): boolean {
    return this.options.flavour === 'qemu';
  }

  /** A task thread id of gdb's (QEMU flavour only; kgdb's tasks are kgdb's own threads). */
  private taskId(id: string): number | undefined {
    if (!this.qemu) return undefined;
    const tid = parseThreadId(id).tid;
    return decodeTaskThreadId(tid) ? tid : undefined;
  }

  private async reply(link: RspLink, p: string, raw: Buffer): Promise<Packet | Buffer | undefined> {
    if (p === 'QStartNoAckMode') return 'OK';
    if (p.startsWith('qSupported')) return this.supported(p);
    if (p.startsWith('qXfer:features:read:')) return this.features(p);
    if (p === 'qfThreadInfo') return this.pager.first(await this.threadIds(), this.session.maxRead * 2);
    if (p === 'qsThreadInfo') return this.pager.next(this.session.maxRead * 2);
    if (p.startsWith('qThreadExtraInfo,')) {
      const task = this.taskId(p.slice(17));
      if (task !== undefined) {
        const t = await this.tasks.find(task);
        return hexText(t ? TaskThreads.describe(t) : 'gone');
      }
      return this.client.request(raw);
    }
    if (p.startsWith('qRcmd,')) return this.monitor(link, p, raw);
    if (p[0] === 'H' && (p[1] === 'g' || p[1] === 'c')) return this.setThread(p, raw);
    if (p[0] === 'T') {
      const task = this.taskId(p.slice(1));
      if (task !== undefined) return (await this.tasks.find(task)) ? 'OK' : 'E01';
      return this.client.request(raw);
    }
    if (p === 'g') return this.readRegisters(raw);
    if (p[0] === 'p') return this.readRegister(p, raw);
    if (p[0] === 'G' || p[0] === 'P') {
      if (this.taskId(this.gdbG) !== undefined) return 'E01';
      return this.session.forwardOn(this.stubThread(this.gdbG), raw);
    }
    if (/^[mMXx]/.test(p) || p.startsWith('qCRC:') || p.startsWith('qSearch:memory:')) return this.memory(raw, p);
    if (p === '?') return this.stopReply(await this.client.ask('?'));
    if (p === 'vCont?') return this.client.request(raw);
    if (isResume(p)) return this.resume(link, p);
    if (p === 'k') {
      this.client.post('k');
      return undefined;
    }
    if (p.startsWith('Qqemu.PhyMemMode:')) {
      const reply = await this.client.request(raw);
      if (reply.toString('latin1') === 'OK') this.physical = p.endsWith(':1');
      return reply;
    }
    return this.client.request(raw, { output: true });
  }

  /** The thread as the stub knows it: gdb's 0 / -1 mean the thread of the last stop. */
  private stubThread(id: string): string | undefined {
    const { tid } = parseThreadId(id);
    if (tid === 0 || tid === -1) return this.session.stopThread;
    return id;
  }

  private async supported(p: string): Promise<string> {
    const reply = await this.client.ask(p);
    this.session.supported(reply);
    if (/(?:^|;)QStartNoAckMode\+/.test(reply) && this.client.link.acking) {
      if ((await this.client.ask('QStartNoAckMode')) === 'OK') this.client.link.noAck();
    }
    const features = reply
      .split(';')
      .filter((f) => f !== '' && !f.startsWith('qXfer:threads:read') && !f.startsWith('QStartNoAckMode'));
    return [...features, 'QStartNoAckMode+'].join(';');
  }

  private async features(p: string): Promise<Buffer> {
    const reply = await this.client.request(p);
    const m = /^qXfer:features:read:([^:]+):([0-9a-fA-F]+),/.exec(p);
    if (m) this.session.recordFeatures(m[1], parseInt(m[2], 16), Buffer.from(reply));
    return reply;
  }

  /** The stub's threads, then the exposed tasks in the same id syntax (QEMU). */
  private async threadIds(): Promise<string[]> {
    const stub = await this.session.threads();
    if (!this.qemu) return stub;
    const processPart = stub.map((id) => parseThreadId(id).pid).find((pid) => pid !== undefined);
    let exposed: Awaited<ReturnType<TaskThreads['threads']>>;
    try {
      exposed = await this.tasks.threads();
    } catch (e) {
      // The CPUs stay debuggable whatever happened to the task list.
      this.emit('warning', `no task threads at this stop: ${(e as Error).message}`);
      exposed = [];
    }
    const tasks = exposed.filter((t) => !this.isCpuThread(stub, t.id));
    return [...stub, ...tasks.map((t) => formatThreadId({ pid: processPart, tid: t.id }))];
  }

  private isCpuThread(stub: readonly string[], tid: number): boolean {
    return stub.some((id) => parseThreadId(id).tid === tid);
  }

  private async setThread(p: string, raw: Buffer): Promise<Packet | Buffer> {
    const id = p.slice(2);
    const task = this.taskId(id);
    if (task !== undefined) {
      if (!(await this.tasks.find(task))) return 'E01';
    } else {
      const reply = (await this.client.request(raw)).toString('latin1');
      if (p[1] === 'g') this.session.selectedByGdb(id, reply);
      if (reply !== 'OK') return reply;
    }
    if (p[1] === 'g') this.gdbG = id;
    else this.gdbC = id;
    return 'OK';
  }

  /**
   * What stands behind gdb's selected thread: a CPU (forward), or a sleeping task whose
   * registers kdap makes. A task on a CPU is the CPU.
   */
  private async behind(id: string): Promise<{ kind: 'stub'; thread: string | undefined } | { kind: 'task'; task: bigint }> {
    const forward = { kind: 'stub' as const, thread: this.stubThread(id) };
    if (this.qemu) {
      const tid = this.taskId(id);
      if (tid === undefined) return forward;
      const task = await this.tasks.find(tid);
      if (!task) throw new Error(`thread ${id}: that task is gone`);
      if (task.onCpu && task.cpu !== undefined) return { kind: 'stub', thread: (await this.session.cpuThreads())[task.cpu] };
      return { kind: 'task', task: task.task };
    }
    // kgdb: a thread id is a pid, or a shadow CPU; kgdb's registers of a running task are right.
    const { tid } = parseThreadId(id);
    if (tid <= 0 || shadowCpu(id) !== undefined) return forward;
    const task = await this.tasks.byPid(tid);
    if (!task || task.onCpu) return forward;
    return { kind: 'task', task: task.task };
  }

  private async taskRegisters(task: bigint): Promise<ReadonlyMap<string, bigint>> {
    try {
      return (await this.tasks.switchFrame(task)).registers;
    } catch (e) {
      if (!(e instanceof SwitchFrameError)) throw e;
      this.emit('warning', e.message);
      return new Map();
    }
  }

  private async gBytes(): Promise<number> {
    if (this.session.gBytes === undefined) await this.session.registers((await this.session.cpuThreads())[0] ?? this.session.stopThread ?? '0');
    return this.session.gBytes!;
  }

  private async readRegisters(raw: Buffer): Promise<Packet | Buffer> {
    const who = await this.behind(this.gdbG);
    if (who.kind === 'stub') {
      const reply = await this.session.forwardOn(who.thread, raw);
      this.session.gBytes ??= /^[0-9a-fA-Fx]+$/.test(reply.toString('latin1')) ? reply.length / 2 : undefined;
      return reply;
    }
    return encodeG(await this.session.registerLayout(), await this.gBytes(), await this.taskRegisters(who.task));
  }

  private async readRegister(p: string, raw: Buffer): Promise<Packet | Buffer> {
    const who = await this.behind(this.gdbG);
    if (who.kind === 'stub') return this.session.forwardOn(who.thread, raw);
    const def = (await this.session.registerLayout()).byNumber(parseInt(p.slice(1), 16));
    if (!def) return 'E01';
    const bytes = Math.ceil(def.bits / 8);
    const value = (await this.taskRegisters(who.task)).get(def.name);
    return value === undefined ? 'xx'.repeat(bytes) : registerHex(value, bytes);
  }

  private async memory(raw: Buffer, p: string): Promise<Buffer> {
    const key = this.physical ? undefined : StopReadCache.keyOf(this.gdbG, p);
    const kept = key === undefined ? undefined : this.reads.get(key);
    if (kept) {
      this.readsKept++;
      return kept;
    }
    let reply: Buffer;
    if (this.taskId(this.gdbG) !== undefined) {
      await this.session.selectForKernelMemory();
      reply = await this.client.request(raw);
    } else {
      reply = await this.session.forwardOn(this.qemu ? this.stubThread(this.gdbG) : undefined, raw);
    }
    if (key !== undefined) this.reads.put(key, reply);
    return reply;
  }

  private async monitor(link: RspLink, p: string, raw: Buffer): Promise<Packet | Buffer> {
    let text: string | undefined;
    try {
      text = await taskMonitorCommand(this.tasks, fromHex(p.slice(6)).toString('utf8'));
    } catch (e) {
      text = `kdap: ${(e as Error).message}\n`;
    }
    if (text === undefined) return this.client.request(raw, { output: true });
    link.send(`O${hexText(text)}`);
    return 'OK';
  }

  private stopReply(reply: string): string {
    if (/^[ST]/.test(reply)) {
      this.session.stopped(reply);
      this.lastStop = reply;
      // Like the stub, gdb takes the stopped thread as the selected one.
      if (this.session.stopThread) this.gdbG = this.gdbC = this.session.stopThread;
    }
    return reply;
  }

  /**
   * A resume. Stepping a task thread is refused (a sleeping task runs only when the scheduler
   * picks it); continuing one continues the kernel. While the kernel runs, gdb's packets wait
   * here for the stop reply, except the interrupt byte.
   */
  private async resume(link: RspLink, p: string): Promise<Packet | undefined> {
    let payload = p;
    if (this.qemu) {
      const refused = this.refusedStep(p);
      if (refused) {
        // Answered with a stop: an interrupt that waited for this resume has its stop too.
        if (--this.resumesQueued === 0) this.interruptQueued = false;
        link.send(`O${hexText(`kdap: ${refused}\n`)}`);
        return this.lastStop ?? 'S05';
      }
      payload = this.withoutTaskThreads(p);
    }
    this.session.resumed();
    this.tasks.invalidate();
    let sent = false;
    // Running from the moment the resume is on its way: an interrupt from then on follows it.
    const onItsWay = () => {
      sent = true;
      this.resumesQueued--;
      this.running = true;
      if (!this.interruptQueued) return;
      this.interruptQueued = false;
      this.client.interrupt();
    };
    try {
      return this.stopReply((await this.client.resume(payload, onItsWay)).toString('latin1'));
    } finally {
      if (!sent) this.resumesQueued--;
      this.running = false;
    }
  }

  private refusedStep(p: string): string | undefined {
    const stepping = (action: string) => /^[sSrt]/.test(action);
    if (/^[sS]/.test(p) && this.taskId(this.gdbC) !== undefined) return 'a sleeping task cannot be stepped: select its CPU to step the kernel';
    if (!p.startsWith('vCont;')) return undefined;
    for (const action of p.slice(6).split(';')) {
      const [what, thread] = action.split(':');
      if (thread !== undefined && stepping(what) && this.taskId(thread) !== undefined) return 'a sleeping task cannot be stepped: select its CPU to step the kernel';
    }
    return undefined;
  }

  /** `vCont;c:<task>` continues the kernel: the task part goes; plain `c` with a task's Hc too. */
  private withoutTaskThreads(p: string): string {
    if (!p.startsWith('vCont;')) return p;
    const actions = p
      .slice(6)
      .split(';')
      .map((action) => {
        const [what, thread] = action.split(':');
        return thread !== undefined && this.taskId(thread) !== undefined ? what : action;
      });
    // A thread-less action must come last: keep one of each.
    const specific = actions.filter((a) => a.includes(':'));
    const general = [...new Set(actions.filter((a) => !a.includes(':')))].slice(0, 1);
    return `vCont;${[...specific, ...general].join(';')}`;
  }
}

/** A packet that lets the target run until its stop reply: continue or step, with vCont or not. */
function isResume(p: string): boolean {
  return p.startsWith('vCont;') || /^[cCsS]/.test(p);
}
