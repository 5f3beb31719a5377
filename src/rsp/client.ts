/**
 * The debugger's end of an RSP link, for talking to a stub (QEMU's gdbstub, kgdb through
 * kdap's kgdb proxy): one request at a time, each answered by the next packet, or a run of
 * requests sent back to back (`requestAll`). Console output packets (`O…`) that come ahead of
 * an answer are handed to `onOutput`.
 */
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { RspLink } from './link';

export class RspError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RspError';
  }
}

interface Pending {
  resolve: (reply: Buffer) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
  /** `O` packets before the reply are output, not the reply (qRcmd). */
  allowOutput: boolean;
  /** The answer may be a stop reply (`?`); otherwise a stop reply is the stub's own news. */
  stopAnswers: boolean;
}

/** Packets whose answer is, or may be, a stop reply. */
const STOP_ANSWERED = /^(\?|vCont;|[cCsSiI]|vAttach;|vRun;|vStopped)/;
const STOP_REPLY = /^[STWX][0-9a-fA-F]{2}/;

export interface RspClientOptions {
  /** Milliseconds a request may wait for its answer; the link is closed after that. Default 10 s. */
  timeoutMs?: number;
  onOutput?: (text: string) => void;
  /**
   * A stop reply nobody asked for: QEMU sends one when a debugger connects to a running VM
   * (it stops the VM), kgdb when the kernel enters the debugger by itself.
   */
  onStop?: (reply: string) => void;
  trace?: (direction: 'in' | 'out', text: string) => void;
}

export class RspClient {
  readonly link: RspLink;
  private queue: Promise<unknown> = Promise.resolve();
  /** Requests sent and not answered yet, oldest first: the stub answers in order. */
  private pending: Pending[] = [];
  private stopWaiter: Pending | undefined;

  constructor(stream: Duplex, private readonly options: RspClientOptions = {}) {
    // Small packets and acks, each waited for: Nagle's algorithm would hold every other one
    // back until the peer's delayed ACK, ~40 ms a round trip.
    if (stream instanceof net.Socket) stream.setNoDelay(true);
    this.link = new RspLink(stream, options.trace);
    this.link.on('packet', (p) => this.packet(p));
    this.link.on('close', (why) => {
      const e = new RspError(`the stub's connection closed: ${why}`);
      for (const w of [...this.pending, this.stopWaiter]) {
        if (!w) continue;
        clearTimeout(w.timer);
        w.reject(e);
      }
      this.pending = [];
      this.stopWaiter = undefined;
    });
  }

  /** Sends a packet and resolves with its answer. Requests run one after another. */
  request(payload: string | Uint8Array, options: { timeoutMs?: number; output?: boolean } = {}): Promise<Buffer> {
    const run = this.queue.then(() => this.requestNow(payload, options.timeoutMs ?? this.options.timeoutMs ?? 10_000, options.output ?? false));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Sends the requests back to back and resolves with their answers, in order: one round trip
   * for the run where `request` would wait for each answer before the next. For requests the
   * stub answers with exactly one packet, never with output or a stop reply (memory reads).
   * In ack mode they go one at a time: the link can resend only its last packet.
   */
  requestAll(payloads: readonly string[], options: { timeoutMs?: number } = {}): Promise<Buffer[]> {
    if (this.link.acking) return Promise.all(payloads.map((p) => this.request(p, options)));
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs ?? 10_000;
    const run = this.queue.then(() => Promise.all(payloads.map((p) => this.requestNow(p, timeoutMs, false))));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** `request` with the answer as latin1 text. */
  async ask(payload: string, options?: { timeoutMs?: number; output?: boolean }): Promise<string> {
    return (await this.request(payload, options)).toString('latin1');
  }

  /**
   * Sends a resume (`c`, `vCont;…`) and resolves with the stop reply, whenever the target stops.
   * Waits for requests already queued; nothing else may be sent until it resolves, except the
   * interrupt byte. `sent` runs once the resume is on its way: an interrupt sent there cannot
   * overtake it.
   */
  resume(payload: string, sent?: () => void): Promise<Buffer> {
    const run = this.queue.then(
      () =>
        new Promise<Buffer>((resolve, reject) => {
          if (!this.link.open) return reject(new RspError(`the stub's connection is closed: ${this.link.why}`));
          this.stopWaiter = { resolve, reject, timer: undefined, allowOutput: true, stopAnswers: true };
          this.link.send(payload);
          sent?.();
        }),
    );
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Sends a packet that has no answer (`k`). */
  post(payload: string): void {
    this.link.send(payload);
  }

  interrupt(): void {
    this.link.interrupt();
  }

  close(): void {
    this.link.close();
  }

  private requestNow(payload: string | Uint8Array, timeoutMs: number, allowOutput: boolean): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      if (!this.link.open) return reject(new RspError(`the stub's connection is closed: ${this.link.why}`));
      const text = typeof payload === 'string' ? payload : Buffer.from(payload).toString('latin1');
      const timer = setTimeout(() => {
        this.pending = this.pending.filter((w) => w.timer !== timer);
        reject(new RspError(`the stub did not answer ${JSON.stringify(text.slice(0, 40))} within ${timeoutMs} ms`));
        // A late answer would be taken for the next request's: the link cannot be trusted now.
        this.link.close();
      }, timeoutMs);
      this.pending.push({ resolve, reject, timer, allowOutput, stopAnswers: STOP_ANSWERED.test(text) });
      this.link.send(payload);
    });
  }

  private packet(payload: Buffer): void {
    const waiter = this.pending[0] ?? this.stopWaiter;
    // `O` + hex is console output unless it is the answer itself (a bare `OK`).
    if (payload[0] === 0x4f && payload.length > 1 && payload.toString('latin1') !== 'OK' && (!waiter || waiter.allowOutput)) {
      this.options.onOutput?.(Buffer.from(payload.subarray(1).toString('latin1'), 'hex').toString('utf8'));
      return;
    }
    if ((!waiter || !waiter.stopAnswers) && STOP_REPLY.test(payload.toString('latin1'))) {
      this.options.onStop?.(payload.toString('latin1'));
      return;
    }
    if (!waiter) return; // an answer nobody waits for (after a timeout): dropped
    clearTimeout(waiter.timer);
    if (waiter === this.pending[0]) this.pending.shift();
    else this.stopWaiter = undefined;
    waiter.resolve(payload);
  }
}
