/**
 * gdb Remote Serial Protocol framing, the part kdap needs to sit between gdb and kgdb:
 * `$payload#cs` packets (cs = sum of the payload bytes mod 256, two hex digits), `%` notifications
 * framed the same way, `+`/`-` acknowledgements and the 0x03 interrupt byte.
 *
 * kgdb speaks plain ASCII: no run-length encoding, no binary replies, packets of at most BUFMAX
 * bytes (1024 on x86, 2048 on arm64; kernel/debug/gdbstub.c, asm/kgdb.h).
 */

export const INTERRUPT = 0x03;

/** The two hex digits of an RSP checksum. */
export function checksum(payload: Uint8Array | string): string {
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return sum.toString(16).padStart(2, '0');
}

/** A complete packet on the wire: `$payload#cs`. */
export function frame(payload: string): Buffer {
  return Buffer.from(`$${payload}#${checksum(payload)}`, 'latin1');
}

/** What a packet from the target means for the run state. */
export function isStopReply(payload: string): boolean {
  // S: signal, T: signal with registers/thread, W/X: process exited/killed.
  return /^[STWX][0-9a-fA-F]{2}/.test(payload);
}

/**
 * What a packet from gdb asks for: `resume` (`c`, `s`, `vCont;c…`: the answer is a stop reply,
 * whenever the kernel stops), `detach` (`D`: answered `OK`, then the kernel runs), `kill` (`k`:
 * no answer; kgdb resumes) or `query` (everything else: exactly one answer).
 */
export function hostPacketKind(payload: string): 'resume' | 'detach' | 'kill' | 'query' {
  if (/^[cCsS]/.test(payload)) return 'resume';
  if (payload.startsWith('vCont;') && /;[cCsS]/.test(payload)) return 'resume';
  if (payload === 'D' || payload.startsWith('D;')) return 'detach';
  if (payload === 'k' || payload.startsWith('vKill')) return 'kill';
  return 'query';
}

/** A thread id as kgdb writes it: 16 hex digits of a signed 64-bit number; shadow CPU n is -2-n. */
export function shadowCpuOfThreadId(tid: bigint): number | undefined {
  const u32 = BigInt.asUintN(32, tid);
  // gdb keeps the low 32 bits in its ptid (4294967294 = shadowCPU0); kgdb sends all 64.
  const cpu = 0xfffffffen - u32;
  return cpu >= 0n && cpu < 4096n ? Number(cpu) : undefined;
}

/**
 * Splits what gdb writes into packets, acks and interrupt bytes, so the proxy can see what gdb
 * asks for (a resume, a 0x03) without changing a byte of it.
 */
export type HostItem =
  | { kind: 'packet'; payload: string; raw: Buffer }
  | { kind: 'ack'; ok: boolean }
  | { kind: 'interrupt' }
  | { kind: 'other'; raw: Buffer };

export class HostScanner {
  private buf: number[] = [];
  private inPacket = false;
  private hashAt = -1;

  feed(chunk: Uint8Array): HostItem[] {
    const out: HostItem[] = [];
    for (const b of chunk) {
      if (!this.inPacket) {
        if (b === 0x24 /* $ */) {
          this.inPacket = true;
          this.buf = [b];
          this.hashAt = -1;
        } else if (b === 0x2b /* + */ || b === 0x2d /* - */) out.push({ kind: 'ack', ok: b === 0x2b });
        else if (b === INTERRUPT) out.push({ kind: 'interrupt' });
        else out.push({ kind: 'other', raw: Buffer.from([b]) });
        continue;
      }
      this.buf.push(b);
      if (this.hashAt < 0 && b === 0x23 /* # */) this.hashAt = this.buf.length - 1;
      if (this.hashAt >= 0 && this.buf.length === this.hashAt + 3) {
        const raw = Buffer.from(this.buf);
        out.push({ kind: 'packet', payload: raw.subarray(1, this.hashAt).toString('latin1'), raw });
        this.inPacket = false;
        this.buf = [];
      }
    }
    return out;
  }
}
