/**
 * Sits between gdb and a kgdb line: gdb connects to a local TCP port (127.0.0.1, a free port)
 * with `target remote`, while the console text that shares the line goes to 'console' events
 * and keystrokes go back to the target while it runs.
 *
 * kgdb behaviours it is built around (kernel/debug/gdbstub.c, kdb/kdb_io.c, debug_core.c 6.1;
 * measured under QEMU on the x86_64 and arm64 fixture kernels):
 * - kgdboc reads the line only while the kernel is stopped in the debugger. Without kgdbwait a
 *   running kernel answers nothing: the proxy stops it first (SysRq-g) and then lets gdb in.
 * - gdb's 0x03 does not stop a kernel through kgdboc (on a shared console it is a ^C for the
 *   shell). The proxy never forwards it: it breaks in with SysRq-g the way the line allows,
 *   `echo g > /proc/sysrq-trigger` typed on the console or BREAK followed by `g`.
 * - With KGDB_KDB, SysRq-g enters kdb (`[0]kdb> ` on the line) and kgdb sends no stop reply.
 *   kdb switches to gdb mode when its input line ends in `$qSupported` or `$?#3f`; the proxy
 *   sends `$qSupported#37`, answers kgdb itself and hands gdb a stop reply of its own (`S05`).
 *   (`?` is avoided: gdb_cmd_status() drops every breakpoint kgdb holds, behind gdb's back.)
 * - In gdb mode, a kernel entering the debugger while gdb was attached sends `T05thread:…;`
 *   unprompted: that is gdb's stop reply and goes straight through.
 * - kgdb resends a packet until it gets `+`: packets the proxy consumes, it acknowledges.
 * - A shell on a shared line echoes what reaches it: a packet that comes back equal to one
 *   just sent is the echo, shown as console text.
 */
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { describeLink, type KgdbLink } from './link';
import { frame, hostPacketKind, HostScanner, isStopReply } from './rsp';
import { ConsoleSplitter, type SplitEvent } from './splitter';

export type BreakInMethod = 'sysrq-trigger' | 'break' | 'none';

export interface KgdbProxyOptions {
  /** The line kgdboc listens on. */
  link: KgdbLink;
  /** The kernel console, when it is another line than `link` (kgdboc=ttyS1, console=ttyS0). */
  consoleLink?: KgdbLink;
  /** `link` also carries the console: its text is the console and keystrokes go there. */
  shareConsole: boolean;
  /** How to enter kgdb from a running kernel. Default: BREAK where the line has one, else the trigger. */
  breakIn?: BreakInMethod;
  /** A line quiet for this long ends a half-read candidate packet (it was console text). Default 400 ms. */
  idleMs?: number;
  /** Every packet and ack between the parties, for `trace: true`. */
  onTrace?: (direction: 'gdb→target' | 'target→gdb' | 'proxy→target' | 'target→proxy' | 'proxy→gdb', text: string) => void;
}

export type RunState = 'unknown' | 'running' | 'stopped';

export interface ProxyEvents {
  /** Console text from the target, raw bytes in arrival order. */
  console: [Buffer];
  state: [RunState];
  /** Something the user should know, in one line (break-in attempts, a lost line). */
  notice: [string];
  /** The kgdb line closed. */
  closed: [string];
}

/** Bytes on the kgdb line, for the bench and for "what is it waiting for". */
export interface LineStats {
  /** Packet bytes from the target (including `$`, `#cs` and acks). */
  rspIn: number;
  /** Console bytes from the target on the kgdb line. */
  consoleIn: number;
  /** Bytes written to the target on the kgdb line. */
  out: number;
  packetsIn: number;
  packetsOut: number;
}

const QSUPPORTED = frame('qSupported');
const SIGTRAP_STOP = frame('S05');
const KDB_PROMPT = /\[\d+\]kdb> ?$/;
const ECHO_WINDOW_MS = 5000;

export class KgdbProxy extends EventEmitter<ProxyEvents> {
  state: RunState = 'unknown';
  readonly stats: LineStats = { rspIn: 0, consoleIn: 0, out: 0, packetsIn: 0, packetsOut: 0 };
  private readonly splitter = new ConsoleSplitter();
  private readonly hostScanner = new HostScanner();
  private server: net.Server | undefined;
  private gdbSocket: net.Socket | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Packets sent lately, to recognise a shell's echo of them. */
  private sent: Array<{ raw: string; at: number }> = [];
  /** Waiting for the next packet the proxy consumes itself (probe answers, unsolicited stops). */
  private packetWaiters: Array<(payload: string) => void> = [];
  /** gdb packets still waiting for their reply; a reply with none outstanding is stale. */
  private gdbOutstanding = 0;
  /** A proxy probe is in flight: kdb's prompt must not trigger another one. */
  private probing = false;
  /** gdb sent a resume or a detach; its ack makes the state running. */
  private resumeUnacked: 'resume' | 'detach' | undefined;
  /** gdb resumed the target and waits for a stop reply. */
  private gdbWaitsForStop = false;
  /** Tail of the kgdb line's console text, to spot the kdb prompt. */
  private lineTail = '';
  private stopWaiters: Array<() => void> = [];
  private closed = false;
  /** A SysRq-g was sent and the kernel has not printed "sysrq: DEBUG" yet: it may still fire. */
  private sysrqPending = false;
  /** Console keystrokes typed while kgdb held the shared line. */
  private heldInput: Buffer = Buffer.alloc(0);
  private sysrqTail = '';

  constructor(private readonly options: KgdbProxyOptions) {
    super();
    options.link.on('data', (d) => this.fromTarget(d));
    options.link.on('close', (why) => this.lineClosed(why));
    options.consoleLink?.on('data', (d) => {
      this.watchSysrq(d);
      this.emit('console', d);
    });
  }

  /** A SysRq-g was sent to break in and the kernel has not acted on it yet. */
  get sysrqInFlight(): boolean {
    return this.sysrqPending;
  }

  get breakInMethod(): BreakInMethod {
    if (this.options.breakIn) return this.options.breakIn;
    return this.consoleLine.canBreak ? 'break' : 'sysrq-trigger';
  }

  /** Where console keystrokes and SysRq go. */
  private get consoleLine(): KgdbLink {
    return this.options.consoleLink ?? this.options.link;
  }

  /** Starts the local port gdb connects to; resolves with it. */
  async listen(host = '127.0.0.1'): Promise<number> {
    const server = net.createServer((socket) => this.gdbConnected(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: 0 }, () => resolve());
    });
    const address = server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  /**
   * Asks kgdb whether it is listening (`qSupported`; in kdb this also switches to gdb mode).
   * True when it answered within `timeoutMs`: the kernel is stopped in the debugger.
   */
  async probe(timeoutMs = 3000): Promise<boolean> {
    this.probing = true;
    try {
      const answer = this.nextOwnPacket(timeoutMs);
      this.sendOwn(QSUPPORTED);
      const ok = (await answer) !== undefined;
      if (ok) this.setState('stopped');
      return ok;
    } finally {
      this.probing = false;
    }
  }

  /**
   * Makes sure the kernel is stopped in kgdb before gdb connects: asks first, breaks in if
   * nothing answers. Resolves with how it got there.
   */
  async acquire(timeoutMs = 30_000): Promise<'stopped' | 'broke-in'> {
    if (await this.probe()) return 'stopped';
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 1; Date.now() < deadline; attempt++) {
      this.emit('notice', `kgdb does not answer on ${describeLink(this.options.link.spec)}: the kernel runs; entering kgdb (${this.describeBreakIn()}, attempt ${attempt})`);
      // A line nobody reads may keep the unanswered probe; kgdb reads it once in the debugger
      // and answers it. Only when that does not come is another probe sent, so that no stale
      // answer is left over for gdb to take as the reply to one of its own packets.
      const late = this.nextOwnPacket(4000);
      await this.triggerBreakIn();
      if ((await late) !== undefined || (await this.probe(4000))) {
        this.setState('stopped');
        return 'broke-in';
      }
    }
    throw new Error(`kgdb did not answer on ${describeLink(this.options.link.spec)} within ${timeoutMs / 1000} s, also after ${this.describeBreakIn()}. Is the kernel booted with kgdboc=${this.options.shareConsole ? '<console tty>' : '<tty of this line>'} and CONFIG_MAGIC_SYSRQ?`);
  }

  /**
   * Stops a running kernel while gdb waits for it (the user pressed Pause). Resolves once gdb
   * has its stop reply; rejects if the kernel did not stop within `timeoutMs`.
   */
  async breakIn(timeoutMs = 20_000): Promise<void> {
    if (this.state === 'stopped') return;
    const stopped = this.waitForStop(timeoutMs);
    await this.triggerBreakIn();
    // In gdb mode kgdb sends T05 by itself; kdb shows its prompt instead (handled in lineText).
    // If neither comes, kgdb waits in gdb mode without knowing gdb: ask it.
    const nudge = setTimeout(() => {
      if (this.state !== 'stopped') void this.switchToGdbAndStop();
    }, Math.min(5000, timeoutMs / 2));
    try {
      await stopped;
    } finally {
      clearTimeout(nudge);
    }
  }

  /**
   * Types into the console. False when it would land in the middle of a kgdb session: then a
   * shared line holds the keystrokes (up to 4 KiB) and sends them once the kernel runs again,
   * as a terminal would; a command typed just after Continue is not lost to the race.
   */
  typeConsole(text: string | Uint8Array): boolean {
    if (!this.options.consoleLink && !this.options.shareConsole) return false;
    if (!this.options.consoleLink && this.state !== 'running') {
      const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text);
      if (this.heldInput.length + bytes.length <= 4096) this.heldInput = Buffer.concat([this.heldInput, bytes]);
      return false;
    }
    this.consoleLine.write(text);
    return true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.sysrqPending && this.options.link.open) await this.releaseAfterLateSysrq();
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.gdbSocket?.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await this.options.link.close();
    await this.options.consoleLink?.close();
  }

  // ---- target side -------------------------------------------------------------------------

  private fromTarget(data: Buffer): void {
    this.handle(this.splitter.feed(data));
    clearTimeout(this.idleTimer);
    if (this.splitter.pending) {
      this.idleTimer = setTimeout(() => this.handle(this.splitter.expire()), this.options.idleMs ?? 400);
    }
  }

  private handle(events: SplitEvent[]): void {
    for (const e of events) {
      switch (e.kind) {
        case 'console':
          this.stats.consoleIn += e.data.length;
          this.lineText(e.data);
          break;
        case 'ack':
          this.stats.rspIn++;
          this.trace(e.owner === 'gdb' ? 'target→gdb' : 'target→proxy', e.ok ? '+' : '-');
          if (e.owner === 'gdb') {
            this.gdbSocket?.write(e.ok ? '+' : '-');
            if (e.ok && this.resumeUnacked) {
              this.gdbWaitsForStop = this.resumeUnacked === 'resume';
              this.resumeUnacked = undefined;
              this.setState('running');
            }
          }
          break;
        case 'bad-packet':
          // While kgdb talks, a damaged packet is gdb's to NAK (kgdb resends it); otherwise text.
          if (this.state === 'stopped' && this.gdbSocket && this.gdbOutstanding > 0) {
            this.stats.rspIn += e.raw.length;
            this.trace('target→gdb', `${e.raw.toString('latin1')} (bad checksum)`);
            this.gdbSocket.write(e.raw);
          } else {
            this.stats.consoleIn += e.raw.length;
            this.lineText(e.raw);
          }
          break;
        case 'packet':
          this.packetFromTarget(e.payload, e.raw);
          break;
      }
    }
  }

  private packetFromTarget(payload: string, raw: Buffer): void {
    const text = raw.toString('latin1');
    const now = Date.now();
    this.sent = this.sent.filter((s) => now - s.at < ECHO_WINDOW_MS);
    if (this.state !== 'stopped' && this.sent.some((s) => s.raw === text)) {
      // A shell echoed a packet back: it is console text, and the kernel runs.
      this.stats.consoleIn += raw.length;
      this.lineText(raw);
      return;
    }
    this.stats.rspIn += raw.length;
    this.stats.packetsIn++;
    this.lineTail = '';
    const stop = isStopReply(payload);
    const gdb = this.gdbSocket;
    // `O…` is output ahead of the answer (kdb's through `monitor`), not the answer.
    const output = /^O[0-9a-fA-F]/.test(payload);
    // A stop reply is also the answer to gdb's `?`: whatever gdb asked for comes first.
    if (gdb && (this.gdbOutstanding > 0 || (stop && this.gdbWaitsForStop))) {
      this.trace('target→gdb', text);
      gdb.write(raw);
      if (output) return;
      if (this.gdbOutstanding > 0) this.gdbOutstanding--;
      else this.gdbWaitsForStop = false;
    } else {
      // Nobody in gdb asked for it: the answer to a probe, or a stop before gdb connected.
      // kgdb resends a packet until it is acknowledged.
      this.trace('target→proxy', text);
      this.options.link.write('+');
      this.stats.out++;
      for (const w of this.packetWaiters.splice(0)) w(payload);
    }
    if (stop) this.setState('stopped');
  }

  /** Resolves with the next packet the proxy consumes, or undefined after `timeoutMs`. */
  private nextOwnPacket(timeoutMs: number): Promise<string | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.packetWaiters = this.packetWaiters.filter((w) => w !== done);
        resolve(undefined);
      }, timeoutMs);
      const done = (payload: string): void => {
        clearTimeout(timer);
        resolve(payload);
      };
      this.packetWaiters.push(done);
    });
  }

  /**
   * A SysRq-g typed into a shell runs when the shell reads it, which may be after the kernel
   * stopped for another reason, was resumed and gdb went away. Then it stops a kernel nobody
   * debugs. Before closing: let it fire, and release the kernel from kgdb (`D`).
   */
  private async releaseAfterLateSysrq(): Promise<void> {
    const deadline = Date.now() + 3000;
    while (this.sysrqPending && Date.now() < deadline) await delay(50);
    if (this.sysrqPending) {
      this.emit('notice', 'a SysRq-g typed on the console has not run yet: the kernel will stop in kgdb when it does (continue it with "go" in kdb or by attaching again)');
      return;
    }
    await delay(300);
    if (this.gdbSocket || !(await this.probe(3000))) return;
    const answered = this.nextOwnPacket(2000);
    this.sendOwn(frame('D'));
    await answered;
    this.setState('running');
  }

  /** Notes the kernel's "sysrq: DEBUG" line: the SysRq-g that was sent has taken effect. */
  private watchSysrq(data: Buffer): void {
    if (!this.sysrqPending) return;
    this.sysrqTail = (this.sysrqTail + data.toString('latin1')).slice(-256);
    if (/sysrq: DEBUG/.test(this.sysrqTail)) {
      this.sysrqPending = false;
      this.sysrqTail = '';
    }
  }

  /** Console text that came on the kgdb line. */
  private lineText(data: Buffer): void {
    this.watchSysrq(data);
    this.lineTail = (this.lineTail + data.toString('latin1')).slice(-64);
    // With a console line of its own, text here is kdb repeating what the console shows.
    if (this.options.shareConsole || !this.options.consoleLink) this.emit('console', data);
    if (KDB_PROMPT.test(this.lineTail) && this.state !== 'stopped' && !this.probing) {
      // kdb took the break-in (KGDB_KDB=y): switch it to gdb mode.
      this.lineTail = '';
      void this.switchToGdbAndStop();
    }
  }

  /**
   * Gets kgdb into gdb mode and gives a waiting gdb its stop reply: `qSupported` (kdb's escape to
   * gdb mode, and a harmless query in gdb mode); kgdb answers it but sends no stop reply of its
   * own then, so the proxy writes one (SIGTRAP) to gdb.
   */
  private async switchToGdbAndStop(): Promise<void> {
    if (this.probing) return;
    const answered = await this.probe(5000);
    if (!answered) {
      this.emit('notice', 'kgdb did not answer after the break-in');
      return;
    }
    if (this.gdbSocket && this.gdbWaitsForStop) {
      this.gdbWaitsForStop = false;
      this.trace('proxy→gdb', SIGTRAP_STOP.toString('latin1'));
      this.gdbSocket.write(SIGTRAP_STOP);
    }
    this.setState('stopped');
  }

  private sendOwn(raw: Buffer): void {
    this.trace('proxy→target', raw.toString('latin1'));
    this.remember(raw);
    this.splitter.owe('proxy');
    this.options.link.write(raw);
    this.stats.out += raw.length;
    this.stats.packetsOut++;
  }

  private remember(raw: Buffer): void {
    this.sent.push({ raw: raw.toString('latin1'), at: Date.now() });
    if (this.sent.length > 16) this.sent.shift();
  }

  private async triggerBreakIn(): Promise<void> {
    const method = this.breakInMethod;
    const line = this.consoleLine;
    if (method === 'none') throw new Error('break-in is off ("breakIn": "none"): stop the kernel on the target (SysRq-g) and try again');
    this.sysrqPending = true;
    this.sysrqTail = '';
    if (method === 'break') {
      await line.sendBreak();
      // Linux takes the key after a BREAK on the console port as a SysRq command (5 s window).
      await delay(100);
      line.write('g');
      return;
    }
    // ^U clears whatever is on the shell's input line first; the command ends in a plain \n.
    line.write('\x15echo g > /proc/sysrq-trigger\n');
  }

  private describeBreakIn(): string {
    return this.breakInMethod === 'break' ? 'BREAK + g on the console' : 'typing echo g > /proc/sysrq-trigger on the console';
  }

  private waitForStop(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.stopWaiters = this.stopWaiters.filter((w) => w !== done);
        reject(new Error(`the kernel did not stop within ${timeoutMs / 1000} s of ${this.describeBreakIn()} (is a shell at the console's prompt? CONFIG_MAGIC_SYSRQ?)`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.stopWaiters.push(done);
    });
  }

  private setState(state: RunState): void {
    if (this.state === state) return;
    this.state = state;
    if (state === 'stopped') for (const w of this.stopWaiters.splice(0)) w();
    if (state === 'running' && this.heldInput.length > 0) {
      const held = this.heldInput;
      this.heldInput = Buffer.alloc(0);
      this.consoleLine.write(held);
    }
    this.emit('state', state);
  }

  private lineClosed(why: string): void {
    this.emit('closed', `${describeLink(this.options.link.spec)}: ${why}`);
    this.gdbSocket?.destroy();
  }

  // ---- gdb side ----------------------------------------------------------------------------

  private gdbConnected(socket: net.Socket): void {
    if (this.gdbSocket && !this.gdbSocket.destroyed) {
      socket.end();
      return;
    }
    this.gdbSocket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.fromGdb(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.gdbSocket === socket) this.gdbSocket = undefined;
      this.gdbWaitsForStop = false;
      this.gdbOutstanding = 0;
    });
  }

  private fromGdb(chunk: Buffer): void {
    for (const item of this.hostScanner.feed(chunk)) {
      switch (item.kind) {
        case 'packet':
          this.trace('gdb→target', item.raw.toString('latin1'));
          this.remember(item.raw);
          this.splitter.owe('gdb');
          switch (hostPacketKind(item.payload)) {
            case 'resume':
              this.resumeUnacked = 'resume';
              break;
            case 'detach':
              this.resumeUnacked = 'detach';
              this.gdbOutstanding++;
              break;
            case 'kill':
              break;
            case 'query':
              this.gdbOutstanding++;
              break;
          }
          this.options.link.write(item.raw);
          this.stats.out += item.raw.length;
          this.stats.packetsOut++;
          break;
        case 'ack':
          this.options.link.write(item.ok ? '+' : '-');
          this.stats.out++;
          break;
        case 'interrupt':
          // gdb's Ctrl-C: never on the line (a shell would get ^C); break in instead.
          this.trace('gdb→target', '^C (as a SysRq-g break-in)');
          if (this.state !== 'stopped') {
            this.breakIn().catch((e: Error) => this.emit('notice', e.message));
          }
          break;
        case 'other':
          this.options.link.write(item.raw);
          this.stats.out += item.raw.length;
          break;
      }
    }
  }

  private trace(direction: Parameters<NonNullable<KgdbProxyOptions['onTrace']>>[0], text: string): void {
    this.options.onTrace?.(direction, text);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
