/**
 * An RSP server for one gdb on 127.0.0.1, over a frozen kernel (backend.ts): CPU threads with
 * their saved registers, task threads from switch frames (task-threads.ts), memory, a target
 * description that pins gdb's register layout, and a stop that never ends: continue and step
 * print why and report the same stop again.
 */
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { SwitchFrameError } from '../kernel/switch-frame';
import { FaultError } from '../kernel/target';
import type { FrozenCpu, FrozenKernel } from './backend';
import { RspLink } from './link';
import { fromHex, hexText, parseHexNumber, registerHex } from './packet';
import { defaultLayout, encodeG, fullGBytes, targetXml, type RegisterLayout } from './registers';
import { TaskThreads, taskMonitorCommand, type TaskExposure } from './task-threads';
import { decodeTaskThreadId, formatThreadId, parseThreadId } from './thread-id';
import { listenForGdb, stopListening, ThreadListPager, qXferSlice, readMemoryReply } from './serve-common';

export interface RspServerOptions {
  /** Which tasks are threads at first (default none; `monitor kdap tasks …` changes it). */
  exposure?: TaskExposure;
  trace?: (direction: 'in' | 'out', text: string) => void;
}

export interface RspServerEvents {
  /** Something went wrong answering gdb; gdb got an error reply. */
  warning: [string];
  /** gdb went away. */
  disconnected: [];
}

const PACKET_SIZE = 0x4000;

export class RspServer extends EventEmitter<RspServerEvents> {
  readonly tasks: TaskThreads;
  private readonly layout: RegisterLayout;
  private readonly gBytes: number;
  private server: net.Server | undefined;
  private link: RspLink | undefined;
  /** Thread of `g`/`p` (Hg); 0 = the stop's. */
  private selected = 0;
  private readonly pager = new ThreadListPager();
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly kernel: FrozenKernel, private readonly options: RspServerOptions = {}) {
    super();
    this.tasks = new TaskThreads(kernel.target, { exposure: options.exposure });
    this.layout = defaultLayout(kernel.target.arch);
    this.gBytes = fullGBytes(this.layout);
  }

  /** Listens on `host` (127.0.0.1) and a free port, or the one given; resolves with the port. */
  async listen(host = '127.0.0.1', port = 0): Promise<number> {
    const { server, port: got } = await listenForGdb((socket) => this.connected(socket), host, port);
    this.server = server;
    return got;
  }

  async close(): Promise<void> {
    this.link?.close();
    await stopListening(this.server);
  }

  private connected(socket: net.Socket): void {
    if (this.link?.open) {
      // One gdb at a time: a second one is told so by the closed connection.
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const link = new RspLink(socket, this.options.trace);
    this.link = link;
    this.selected = 0;
    link.on('packet', (p) => {
      this.queue = this.queue.then(() => this.answer(link, p.toString('latin1')));
    });
    link.on('close', () => this.emit('disconnected'));
  }

  private async answer(link: RspLink, packet: string): Promise<void> {
    let reply: string;
    try {
      reply = await this.reply(link, packet);
    } catch (e) {
      this.emit('warning', `answering ${packet.slice(0, 40)}: ${(e as Error).message}`);
      reply = 'E01';
    }
    link.send(reply);
    if (packet === 'QStartNoAckMode') link.noAck();
    if (packet === 'D' || packet.startsWith('D;')) link.close();
  }

  private async reply(link: RspLink, p: string): Promise<string> {
    if (p.startsWith('qSupported')) return `PacketSize=${PACKET_SIZE.toString(16)};qXfer:features:read+;QStartNoAckMode+;vContSupported+`;
    if (p === 'QStartNoAckMode') return 'OK';
    if (p === '?') return this.stopReply();
    if (p === 'qAttached' || p.startsWith('qAttached:')) return '1';
    if (p === 'qC') return `QC${formatThreadId({ tid: (await this.kernel.stop()).cpu + 1 })}`;
    if (p === 'qfThreadInfo') return this.pager.first(await this.threadIds(), PACKET_SIZE);
    if (p === 'qsThreadInfo') return this.pager.next(PACKET_SIZE);
    if (p.startsWith('qThreadExtraInfo,')) return hexText(await this.threadName(parseThreadId(p.slice(17)).tid));
    if (p.startsWith('qXfer:features:read:')) return this.features(p.slice(20));
    if (p.startsWith('qRcmd,')) return this.monitor(link, fromHex(p.slice(6)).toString('utf8'));
    if (p.startsWith('qSymbol')) return 'OK';
    if (p[0] === 'H') return this.setThread(p);
    if (p[0] === 'T') return (await this.alive(parseThreadId(p.slice(1)).tid)) ? 'OK' : 'E01';
    if (p === 'g') return encodeG(this.layout, this.gBytes, await this.registers(this.selected));
    if (p[0] === 'p') return this.register(parseInt(p.slice(1), 16));
    if (p[0] === 'G' || p[0] === 'P') return 'E01';
    if (p[0] === 'm') return this.readMemory(p.slice(1));
    if (p[0] === 'M' || p[0] === 'X') return this.writeMemory(p);
    if (p === 'vCont?') return 'vCont;c;C;s;S';
    if (/^(vCont;|[cCsS])/.test(p)) return this.refuseResume(link);
    if (p === 'D' || p.startsWith('D;') || p.startsWith('vKill')) return 'OK';
    return '';
  }

  /** The stop, as a stop reply; like any stub, the stopped thread becomes the selected one. */
  private async stopReply(): Promise<string> {
    const stop = await this.kernel.stop();
    this.selected = stop.cpu + 1;
    return `T${stop.signal.toString(16).padStart(2, '0')}thread:${formatThreadId({ tid: stop.cpu + 1 })};`;
  }

  private async cpuList(): Promise<readonly FrozenCpu[]> {
    return this.kernel.cpus();
  }

  private async threadIds(): Promise<string[]> {
    const cpus = await this.cpuList();
    const tasks = await this.tasks.threads();
    return [...cpus.map((c) => formatThreadId({ tid: c.cpu + 1 })), ...tasks.map((t) => formatThreadId({ tid: t.id }))];
  }

  /** The CPU of a CPU thread id; 0 and -1 (any, all) mean the CPU that stopped. */
  private async cpuOfThread(tid: number): Promise<FrozenCpu | undefined> {
    const cpus = await this.cpuList();
    if (tid <= 0) {
      const stop = await this.kernel.stop();
      return cpus.find((c) => c.cpu === stop.cpu) ?? cpus[0];
    }
    return cpus.find((c) => c.cpu + 1 === tid);
  }

  private async alive(tid: number): Promise<boolean> {
    if (decodeTaskThreadId(tid)) return (await this.tasks.find(tid)) !== undefined;
    return (await this.cpuOfThread(tid)) !== undefined;
  }

  private async threadName(tid: number): Promise<string> {
    const task = decodeTaskThreadId(tid) ? await this.tasks.find(tid) : undefined;
    if (task) return TaskThreads.describe(task);
    const cpu = await this.cpuOfThread(tid);
    if (!cpu) return 'gone';
    return `CPU ${cpu.cpu}${cpu.note ? ` (${cpu.note})` : ''}`;
  }

  private async setThread(p: string): Promise<string> {
    const id = parseThreadId(p.slice(2));
    if (id.tid > 0 && !(await this.alive(id.tid))) return 'E01';
    if (p[1] === 'g') this.selected = id.tid;
    return 'OK';
  }

  /** Registers of a thread by gdb's names: a CPU's saved set, or a task's switch frame. */
  private async registers(tid: number): Promise<ReadonlyMap<string, bigint>> {
    if (decodeTaskThreadId(tid)) {
      const task = await this.tasks.find(tid);
      if (!task) throw new Error(`thread ${tid} is no task of this kernel`);
      if (task.onCpu && task.cpu !== undefined) {
        const cpu = await this.cpuOfThread(task.cpu + 1);
        if (cpu) return cpu.registers;
      }
      try {
        return (await this.tasks.switchFrame(task.task)).registers;
      } catch (e) {
        // A zombie's stack is gone, a dying task's may be: its registers are unavailable, which
        // gdb shows, instead of an error that would end `info threads` there.
        if (!(e instanceof SwitchFrameError)) throw e;
        this.emit('warning', e.message);
        return new Map();
      }
    }
    const cpu = await this.cpuOfThread(tid);
    if (!cpu) throw new Error(`no thread ${tid}`);
    return cpu.registers;
  }

  private async register(regnum: number): Promise<string> {
    const def = this.layout.byNumber(regnum);
    if (!def) return 'E01';
    const bytes = Math.ceil(def.bits / 8);
    const value = (await this.registers(this.selected)).get(def.name);
    return value === undefined ? 'xx'.repeat(bytes) : registerHex(value, bytes);
  }

  private async readMemory(args: string): Promise<string> {
    const [addr, len] = args.split(',');
    return readMemoryReply(this.kernel.target, parseHexNumber(addr), Math.min(Number(parseHexNumber(len)), PACKET_SIZE / 2 - 8));
  }

  private async writeMemory(p: string): Promise<string> {
    const write = this.kernel.writeVirtual;
    if (!write) return 'E01';
    const colon = p.indexOf(':');
    const [addr] = p.slice(1, colon).split(',');
    const data = p[0] === 'M' ? fromHex(p.slice(colon + 1)) : Buffer.from(p.slice(colon + 1), 'latin1');
    try {
      await write.call(this.kernel, parseHexNumber(addr), data);
      return 'OK';
    } catch (e) {
      if (e instanceof FaultError) return 'E14';
      throw e;
    }
  }

  private features(args: string): string {
    const m = /^([^:]+):([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(args);
    if (!m) return 'E00';
    if (m[1] !== 'target.xml') return 'E00';
    return qXferSlice(Buffer.from(targetXml(this.kernel.target.arch), 'utf8'), parseInt(m[2], 16), parseInt(m[3], 16));
  }

  private async monitor(link: RspLink, command: string): Promise<string> {
    const text = (await taskMonitorCommand(this.tasks, command)) ?? `kdap: no monitor command "${command.trim()}" on a frozen kernel (try: kdap ps, kdap tasks all|none|PID...)\n`;
    link.send(`O${hexText(text)}`);
    return 'OK';
  }

  /** A frozen kernel does not run: say why (gdb prints `O` output), then report the same stop. */
  private async refuseResume(link: RspLink): Promise<string> {
    link.send(`O${hexText(`kdap: ${this.kernel.frozenReason ?? 'this kernel is frozen: it cannot run'}\n`)}`);
    return this.stopReply();
  }
}
