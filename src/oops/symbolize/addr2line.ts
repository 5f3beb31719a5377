/**
 * Line and inline-chain lookup through one long-lived binutils `addr2line -a -f -p -i` per
 * object and section. This is what faddr2line does for modules: a `.ko` is ET_REL, all its
 * sections start at 0, and only `-j <section>` says which one an offset is in. (llvm-symbolizer
 * has no such option and answers with whatever lives at that offset in the first section,
 * which is how `.text.unlikely` functions come out wrong.)
 *
 * addr2line prints a variable number of lines per address, so each batch ends with a sentinel
 * address nobody asks for; its answer (`0xffffffffffffffff: ?? ??:0`) marks the end:
 *   0x0000000000000025: kdap_test_write at /src/kdap_test.c:110
 *    (inlined by) kdap_test_write at /src/kdap_test.c:85
 *   0xffffffffffffffff: ?? ??:0
 */
import { Batcher } from './batch';
import { LineProcess } from './line-process';
import type { RawPosition } from './llvm-symbolizer';

const SENTINEL = 0xffffffffffffffffn;
const ADDRESS_LINE = /^0x([0-9a-f]{1,16}): (.*)$/;
const INLINED_LINE = /^ ?\(inlined by\) (.*)$/;
const POSITION = /^(.*?) at (.*):(\d+|\?)(?: \(discriminator (\d+)\))?$/;
const UNKNOWN = /^\?\? \?\?:[0?]$/;

function isSentinel(line: string): boolean {
  const m = ADDRESS_LINE.exec(line);
  return m !== null && /^(?:f{8}|f{16})$/.test(m[1]);
}

/** `func at file:line (discriminator N)` → a position; `?? ??:0` → undefined. */
export function parseAddr2linePosition(text: string): RawPosition | undefined {
  if (UNKNOWN.test(text)) return undefined;
  const m = POSITION.exec(text);
  if (!m) return undefined;
  const known = m[3] !== '?' && m[3] !== '0' && m[2] !== '??';
  return {
    function: m[1] === '??' ? undefined : m[1],
    file: known ? m[2] : undefined,
    line: known ? Number(m[3]) : 0,
    column: undefined,
    discriminator: m[4] ? Number(m[4]) : undefined,
  };
}

/** The answer lines of one batch (sentinel included) → one chain per asked address. */
export function parseAddr2lineBatch(lines: readonly string[], count: number): RawPosition[][] {
  const out: RawPosition[][] = [];
  let current: RawPosition[] | undefined;
  for (const line of lines) {
    if (isSentinel(line)) break;
    const a = ADDRESS_LINE.exec(line);
    if (a) {
      current = [];
      out.push(current);
      const p = parseAddr2linePosition(a[2]);
      if (p) current.push(p);
      continue;
    }
    const i = INLINED_LINE.exec(line);
    if (i && current) {
      const p = parseAddr2linePosition(i[1]);
      if (p) current.push(p);
    }
  }
  while (out.length < count) out.push([]);
  return out.slice(0, count);
}

export class Addr2Line {
  private readonly process: LineProcess;
  private readonly batcher: Batcher<bigint, RawPosition[]>;

  /** `section` for ET_REL objects (`-j`), undefined for linked ones. */
  constructor(
    readonly object: string,
    readonly section: string | undefined,
    program: string,
    idleMs: number,
  ) {
    const args = ['-a', '-f', '-p', '-i'];
    if (section !== undefined) args.push('-j', section);
    args.push('-e', object);
    this.process = new LineProcess({ program, args, idleMs, label: `addr2line ${section ? `-j ${section} ` : ''}${object}` });
    this.batcher = new Batcher((addresses) => this.run(addresses));
  }

  get processInfo(): LineProcess {
    return this.process;
  }

  lookup(address: bigint): Promise<RawPosition[]> {
    return this.batcher.add(address);
  }

  private async run(addresses: bigint[]): Promise<RawPosition[][]> {
    const asked = addresses.filter((a) => a !== SENTINEL);
    const input = asked.map((a) => `0x${a.toString(16)}\n`).join('') + `0x${SENTINEL.toString(16)}\n`;
    const lines = await this.process.exchange(input, (got) => got.length > 0 && isSentinel(got[got.length - 1]));
    const answers = parseAddr2lineBatch(lines, asked.length);
    let k = 0;
    return addresses.map((a) => (a === SENTINEL ? [] : answers[k++]));
  }

  dispose(): Promise<void> {
    return this.process.dispose();
  }
}
