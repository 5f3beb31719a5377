/**
 * kdap's own use of a live stub, between the packets it forwards for gdb: which thread the
 * stub has selected, the stub's register layout, and kernel memory read through a CPU that can
 * read it.
 *
 * QEMU's gdbstub reads virtual memory through the MMU of the selected (`Hg`) vCPU, with that
 * vCPU's privilege: a vCPU at EL0, or on PTI's user page tables, cannot read kernel memory. So
 * kdap reads through a vCPU in kernel mode, found once per stop (the one that stopped first).
 * kgdb reads every address in kernel context and needs none of that.
 */
import { taskArchOps } from '../kernel/arch/task-ops';
import { FaultError, type Arch, type Target } from '../kernel/target';
import { RspError, type RspClient } from './client';
import { decodeData, fromHex } from './packet';
import { decodeG, defaultLayout, parseTargetDescription, type RegisterLayout } from './registers';
import { shadowCpuOfThreadId } from '../kgdb/rsp';

export type StubFlavour = 'qemu' | 'kgdb';

export class StubSession {
  /** Largest memory read per `m` packet, from the stub's PacketSize. */
  maxRead = 256;
  /** Bytes of the stub's `g` reply, once one was seen. */
  gBytes: number | undefined;
  /** The thread of the last stop, as the stub wrote it. */
  stopThread: string | undefined;
  /** The thread the stub has selected for `g`/`m` (Hg); undefined when not known. */
  private stubG: string | undefined;
  private readonly documents = new Map<string, Buffer>();
  private readonly complete = new Set<string>();
  private layout: Promise<RegisterLayout> | undefined;
  // ---- per stop ----
  private threadList: Promise<string[]> | undefined;
  private readonly registerCache = new Map<string, Promise<Map<string, bigint>>>();
  private kernelThreadId: Promise<string | undefined> | undefined;

  constructor(
    readonly client: RspClient,
    readonly arch: Arch,
    readonly flavour: StubFlavour,
  ) {}

  /** The target resumes: everything read is stale. */
  resumed(): void {
    this.threadList = undefined;
    this.registerCache.clear();
    this.kernelThreadId = undefined;
    this.stubG = undefined;
  }

  /** A stop reply came; the stub's selection is its own business now (QEMU picks the stopped vCPU). */
  stopped(reply: string): void {
    this.resumed();
    this.stopThread = /(?:^|;)thread:([^;]+);/.exec(reply.slice(3))?.[1];
  }

  /** Notes the stub's PacketSize from its qSupported answer. */
  supported(reply: string): void {
    const size = /(?:^|;)PacketSize=([0-9a-fA-F]+)/.exec(reply)?.[1];
    if (size) this.maxRead = Math.max(64, Math.floor((parseInt(size, 16) - 32) / 2));
  }

  /** Forwards a gdb packet that depends on the selected thread, with `thread` selected first. */
  async forwardOn(thread: string | undefined, payload: string | Buffer): Promise<Buffer> {
    if (thread !== undefined) await this.select(thread);
    return this.client.request(payload, { output: true });
  }

  /** gdb selected a thread the stub knows (`Hg…` forwarded as is). */
  selectedByGdb(thread: string, reply: string): void {
    this.stubG = reply === 'OK' ? thread : undefined;
  }

  async select(thread: string): Promise<void> {
    if (this.stubG === thread) return;
    const reply = await this.client.ask(`Hg${thread}`);
    if (reply !== 'OK') throw new RspError(`the stub refused to select thread ${thread}: ${reply}`);
    this.stubG = thread;
  }

  // ---- the register layout ----

  /** Keeps a qXfer:features:read answer that went to gdb, so kdap need not ask again. */
  recordFeatures(annex: string, offset: number, reply: Buffer): void {
    if (reply.length === 0 || (reply[0] !== 0x6d && reply[0] !== 0x6c)) return;
    const have = this.documents.get(annex) ?? Buffer.alloc(0);
    if (offset !== have.length) return;
    this.documents.set(annex, Buffer.concat([have, reply.subarray(1)]));
    if (reply[0] === 0x6c) this.complete.add(annex);
  }

  /** The stub's registers: its target description, or gdb's default when it has none (kgdb). */
  registerLayout(): Promise<RegisterLayout> {
    this.layout ??= this.readLayout();
    this.layout.catch(() => (this.layout = undefined));
    return this.layout;
  }

  private async readLayout(): Promise<RegisterLayout> {
    const texts = new Map<string, string>();
    const pending = ['target.xml'];
    while (pending.length > 0) {
      const annex = pending.shift()!;
      if (texts.has(annex)) continue;
      const text = await this.featureDocument(annex);
      if (text === undefined) {
        if (annex === 'target.xml') return defaultLayout(this.arch);
        throw new RspError(`the stub's target description includes ${annex} but does not send it`);
      }
      texts.set(annex, text);
      for (const m of text.matchAll(/<xi:include\s+href=["']([^"']+)["']/g)) pending.push(m[1]);
    }
    return parseTargetDescription(texts);
  }

  private async featureDocument(annex: string): Promise<string | undefined> {
    if (!this.complete.has(annex)) {
      let data = Buffer.alloc(0);
      for (;;) {
        const reply = await this.client.request(`qXfer:features:read:${annex}:${data.length.toString(16)},${(this.maxRead * 2).toString(16)}`);
        if (reply.length === 0 || reply[0] === 0x45 /* E */) return undefined;
        data = Buffer.concat([data, decodeData(reply.subarray(1))]);
        if (reply[0] === 0x6c) break;
      }
      this.documents.set(annex, data);
      this.complete.add(annex);
    }
    return this.documents.get(annex)!.toString('utf8');
  }

  // ---- threads and registers at this stop ----

  /** The stub's own thread list, in its order. */
  threads(): Promise<string[]> {
    this.threadList ??= (async () => {
      const ids: string[] = [];
      for (let reply = await this.client.ask('qfThreadInfo'); reply.startsWith('m'); reply = await this.client.ask('qsThreadInfo')) {
        ids.push(...reply.slice(1).split(',').filter((s) => s !== ''));
      }
      return ids;
    })();
    this.threadList.catch(() => (this.threadList = undefined));
    return this.threadList;
  }

  /** Thread ids of the CPUs, CPU 0 first: all of QEMU's threads; kgdb's shadowCPU threads. */
  async cpuThreads(): Promise<string[]> {
    const ids = await this.threads();
    if (this.flavour === 'qemu') return ids;
    return ids.filter((id) => shadowCpu(id) !== undefined).sort((a, b) => shadowCpu(a)! - shadowCpu(b)!);
  }

  /** A thread's registers by name, read once per stop (`Hg` + `g`). */
  registers(thread: string): Promise<Map<string, bigint>> {
    let regs = this.registerCache.get(thread);
    if (!regs) {
      regs = (async () => {
        const layout = await this.registerLayout();
        await this.select(thread);
        const reply = await this.client.ask('g');
        if (/^E[0-9a-fA-F]{2}$/.test(reply)) throw new RspError(`the stub cannot read the registers of thread ${thread}: ${reply}`);
        this.gBytes ??= reply.length / 2;
        return decodeG(layout, reply);
      })();
      regs.catch(() => this.registerCache.delete(thread));
      this.registerCache.set(thread, regs);
    }
    return regs;
  }

  /**
   * A CPU thread that can read kernel memory: in kernel mode with its MMU on, the one that
   * stopped first. Undefined when every CPU runs user space.
   */
  kernelThread(): Promise<string | undefined> {
    this.kernelThreadId ??= (async () => {
      const cpus = await this.cpuThreads();
      const ordered = [...cpus].sort((a, b) => Number(b === this.stopThread) - Number(a === this.stopThread));
      const ops = taskArchOps(this.arch);
      for (const thread of ordered) if (ops.kernelMode(await this.registers(thread)) === true) return thread;
      return undefined;
    })();
    this.kernelThreadId.catch(() => (this.kernelThreadId = undefined));
    return this.kernelThreadId;
  }

  /** Selects a thread that reads kernel memory, where the stub needs one. */
  async selectForKernelMemory(): Promise<void> {
    if (this.flavour === 'kgdb') return;
    const thread = await this.kernelThread();
    if (thread === undefined) throw new FaultError(0n, 0, 'no CPU is in kernel mode, so no CPU can read kernel memory through the gdbstub');
    await this.select(thread);
  }

  /**
   * Kernel virtual memory, in packets of maxRead bytes. Over QEMU the packets of one read, and
   * those of reads asked for together (a list's members read side by side), go out back to
   * back: QEMU answers each in turn, so they cost about one round trip rather than one each.
   * A serial line (kgdb) gets them one at a time.
   */
  async readVirtual(address: bigint, length: number): Promise<Uint8Array> {
    await this.selectForKernelMemory();
    const out = new Uint8Array(length);
    const parts: Array<Promise<void>> = [];
    for (let done = 0; done < length; done += this.maxRead) {
      const start = done;
      const n = Math.min(this.maxRead, length - start);
      parts.push(this.readPacket(address + BigInt(start), n).then((first) => this.fill(out, start, address, n, first)));
    }
    await Promise.all(parts);
    return out;
  }

  /** Fills out[start, start + n) from `first`, asking again for what a short answer left. */
  private async fill(out: Uint8Array, start: number, address: bigint, n: number, first: string): Promise<void> {
    let reply = first;
    for (let done = 0; ; ) {
      const at = address + BigInt(start + done);
      if (reply.length === 0 || /^E[0-9a-fA-F]{2}$/.test(reply)) throw new FaultError(at, n - done, `the stub answered ${reply || 'nothing'}`);
      const bytes = fromHex(reply);
      if (bytes.length === 0) throw new FaultError(at, n - done, 'the stub read nothing');
      out.set(bytes.subarray(0, n - done), start + done);
      done += bytes.length;
      if (done >= n) return;
      reply = await this.client.ask(`m${(address + BigInt(start + done)).toString(16)},${(n - done).toString(16)}`);
    }
  }

  /** Packets asked for in the same turn of the event loop, sent together (QEMU without acks). */
  private batch: Array<{ payload: string; resolve: (reply: string) => void; reject: (e: unknown) => void }> | undefined;

  private readPacket(address: bigint, n: number): Promise<string> {
    const payload = `m${address.toString(16)},${n.toString(16)}`;
    if (this.flavour !== 'qemu' || this.client.link.acking) return this.client.ask(payload);
    return new Promise((resolve, reject) => {
      if (!this.batch) {
        this.batch = [];
        setImmediate(() => this.sendBatch());
      }
      this.batch.push({ payload, resolve, reject });
    });
  }

  private sendBatch(): void {
    const batch = this.batch ?? [];
    this.batch = undefined;
    this.client.requestAll(batch.map((b) => b.payload)).then(
      (replies) => batch.forEach((b, i) => b.resolve(replies[i].toString('latin1'))),
      (e: unknown) => batch.forEach((b) => b.reject(e)),
    );
  }

  /** The memory half of a Target over this stub. */
  memory(): Pick<Target, 'readVirtual' | 'readPhysical' | 'registers' | 'cpus'> {
    return {
      readVirtual: (a, n) => this.readVirtual(a, n),
      readPhysical: () => Promise.reject(new FaultError(0n, 0, 'physical reads are not offered through the task overlay')),
      registers: async (cpu, names) => {
        const thread = (await this.cpuThreads())[cpu];
        if (thread === undefined) throw new RangeError(`no CPU ${cpu}`);
        const all = await this.registers(thread);
        return new Map(names.filter((n) => all.has(n)).map((n) => [n, all.get(n)!]));
      },
      cpus: async () => (await this.cpuThreads()).length,
    };
  }
}

/** The CPU of a kgdb shadow thread id (`fffffffe` is CPU 0), or undefined for a task's. */
export function shadowCpu(id: string): number | undefined {
  if (/^[0-9a-fA-F]+$/.test(id)) return shadowCpuOfThreadId(BigInt(`0x${id}`));
  return /^-[0-9a-fA-F]+$/.test(id) ? shadowCpuOfThreadId(-BigInt(`0x${id.slice(1)}`)) : undefined;
}
