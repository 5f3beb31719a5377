/**
 * Where a frame of a captured crash log lies in the source, answered by tools that share no code
 * with kdap: System.map plus binutils `addr2line -f -i` for vmlinux frames, the fixture tree's own
 * `scripts/faddr2line` for module frames. The suite (oops-navigation.test.ts) and the UI
 * scenarios of run.mjs (which loads the compiled copy) both check kdap against it.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface OracleFrame {
  symbol: string;
  offset: bigint;
  size: bigint;
  module: string | undefined;
  /** 0-based line of the log and character of the symbol on it, as VS Code counts. */
  line: number;
  character: number;
}

export interface OraclePosition {
  fn: string;
  /** The local file (DWARF path mapped through the manifest's substitutePath). */
  file: string;
  /** 1-based, as the tools print it. */
  line: number;
}

export interface OracleInputs {
  vmlinux: string;
  systemMap: string;
  sourceRoot: string;
  substitutePath: Array<{ from: string; to: string }>;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The first line of `text` holding `symbol+0xoff/0xsize`, with its parts. */
export function findFrame(text: string, symbol: string): OracleFrame {
  const re = new RegExp(`\\b${escapeRe(symbol)}\\+0x([0-9a-f]+)/0x([0-9a-f]+)(?: \\[(\\w+)\\])?`);
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const m = re.exec(lines[i]);
    if (m) return { symbol, offset: BigInt('0x' + m[1]), size: BigInt('0x' + m[2]), module: m[3], line: i, character: m.index };
  }
  throw new Error(`no ${symbol}+0x…/0x… frame in the log`);
}

function mapPath(file: string, inputs: OracleInputs): string {
  for (const { from, to } of inputs.substitutePath) {
    if (file === from || file.startsWith(from + '/')) return to + file.slice(from.length);
  }
  return path.isAbsolute(file) ? file : path.join(inputs.sourceRoot, file);
}

/** System.map's address of a text symbol whose kallsyms size (distance to the next entry) is `size`. */
function mapAddress(systemMap: string, symbol: string, size: bigint): bigint {
  const entries = fs
    .readFileSync(systemMap, 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f.length === 3 && /^[tTwW]$/.test(f[1]))
    .map((f) => ({ address: BigInt('0x' + f[0]), name: f[2] }))
    .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  const hits: bigint[] = [];
  entries.forEach((e, i) => {
    if (e.name !== symbol) return;
    let j = i + 1;
    while (j < entries.length && entries[j].address === e.address) j++;
    if (j < entries.length && entries[j].address - e.address === size) hits.push(e.address);
  });
  if (hits.length !== 1) throw new Error(`System.map has ${hits.length} ${symbol} of size 0x${size.toString(16)}`);
  return hits[0];
}

/**
 * `addr2line -f -i` at the frame's address, innermost first. A call-trace entry is a return
 * address: the call is at address − 1, as decode_stacktrace.sh and faddr2line ask.
 */
export function vmlinuxChain(frame: OracleFrame, returnAddress: boolean, inputs: OracleInputs): OraclePosition[] {
  const address = mapAddress(inputs.systemMap, frame.symbol, frame.size) + frame.offset - (returnAddress ? 1n : 0n);
  const r = spawnSync('addr2line', ['-f', '-i', '-e', inputs.vmlinux, '0x' + address.toString(16)], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`addr2line failed (${r.status ?? r.signal}): ${r.stderr}`);
  const out: OraclePosition[] = [];
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const m = /^(.*):(\d+)(?: \(discriminator \d+\))?$/.exec(lines[i + 1]);
    if (m && m[2] !== '0') out.push({ fn: lines[i], file: mapPath(m[1], inputs), line: Number(m[2]) });
  }
  if (out.length === 0) throw new Error(`addr2line has no line for ${frame.symbol}: ${r.stdout}`);
  return out;
}

/** The tree's `scripts/faddr2line KO func+off/size`, first candidate, innermost first. */
export function moduleChain(frame: OracleFrame, returnAddress: boolean, ko: string, inputs: OracleInputs): OraclePosition[] {
  const spec = `${frame.symbol}+0x${(frame.offset - (returnAddress ? 1n : 0n)).toString(16)}/0x${frame.size.toString(16)}`;
  const r = spawnSync(path.join(inputs.sourceRoot, 'scripts', 'faddr2line'), [ko, spec], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  const out: OraclePosition[] = [];
  let candidates = 0;
  for (const line of r.stdout.split('\n')) {
    if (/^\S+\+0x[0-9a-f]+\/0x[0-9a-f]+:$/.test(line)) candidates++;
    if (candidates !== 1) continue;
    const m = /^(?:\(inlined by\) )?(\S+) at (.*):(\d+)(?: \(discriminator \d+\))?$/.exec(line.trim());
    if (m) out.push({ fn: m[1], file: mapPath(m[2], inputs), line: Number(m[3]) });
  }
  // A size mismatch means the .ko was built from another kdap_test.c than the captured log's.
  if (out.length === 0) throw new Error(`faddr2line ${ko} ${spec}: ${r.stdout}${r.stderr}`);
  return out;
}
