/**
 * The `Code:` line disassembled, as scripts/decodecode shows it: "All code" with the trapping
 * instruction marked, then "Code starting with the faulting instruction". The second listing
 * matters on x86, where decoding from the first byte of the dump may land in the middle of an
 * instruction; starting at the marked byte re-synchronises.
 *
 * The marked unit is `<xx>` on x86 and `(xxxxxxxx)` on arm64/arm/riscv; the bytes before it are
 * the offset of the faulting pc in the dump. Words of 2 or 4 bytes are stored little-endian,
 * as the kernel printed them from memory of a little-endian CPU.
 *
 * binutils objdump (for the dump's architecture) is preferred because its text is exactly what
 * decodecode prints; llvm-mc, which serves every architecture from one install, is the
 * fallback. The bytes go through private temporary files that are removed afterwards.
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Arch, CodeBytes } from '../types';
import { findBinutil, findLlvmTool, runProgram, type ToolOptions } from './tools';

export interface Instruction {
  /** Byte offset in the dump (or from the faulting byte, in `fromFault`). */
  offset: number;
  /** Encoding as the tool printed it (`8b 78 28`, `f9428aa3`). */
  bytes: string;
  /** Mnemonic and operands (`mov    0x28(%rax),%edi`). */
  text: string;
  length: number;
  trapping: boolean;
}

export interface DecodedCode {
  arch: Arch;
  tool: string;
  /** Offset of the faulting unit in the dump; undefined without a marker. */
  faultOffset: number | undefined;
  all: Instruction[];
  /** Disassembly restarted at the faulting unit; empty without a marker. */
  fromFault: Instruction[];
  /** The faulting instruction, decoded from its first byte. */
  trapping: Instruction | undefined;
}

interface ArchSpec {
  objdump: string[];
  triple: string;
}

function archSpec(arch: Arch, width: number): ArchSpec | undefined {
  switch (arch) {
    case 'x86_64':
      return { objdump: ['-m', 'i386:x86-64'], triple: 'x86_64' };
    case 'i386':
      return { objdump: ['-m', 'i386'], triple: 'i386' };
    case 'arm64':
      return { objdump: ['-m', 'aarch64'], triple: 'aarch64' };
    case 'arm':
      return width === 2 ? { objdump: ['-m', 'arm', '-M', 'force-thumb'], triple: 'thumbv7' } : { objdump: ['-m', 'arm'], triple: 'armv7' };
    case 'riscv':
      return { objdump: ['-m', 'riscv:rv64'], triple: 'riscv64' };
    default:
      return undefined;
  }
}

/** The dump as bytes in memory order, and where the marked unit starts. */
export function codeBytes(code: CodeBytes): { bytes: Buffer; faultOffset: number | undefined } {
  const parts: Buffer[] = [];
  let faultOffset: number | undefined;
  let at = 0;
  code.words.forEach((w, i) => {
    if (i === code.faultIndex) faultOffset = at;
    const n = w.length >> 1;
    const b = Buffer.alloc(n);
    // Multi-byte words are values; the CPU stored them little-endian.
    for (let k = 0; k < n; k++) b[n - 1 - k] = parseInt(w.slice(2 * k, 2 * k + 2), 16);
    parts.push(b);
    at += n;
  });
  return { bytes: Buffer.concat(parts), faultOffset };
}

const OBJDUMP_LINE = /^ *([0-9a-f]+):\t([0-9a-f]{2}(?: [0-9a-f]{2})*|[0-9a-f]{4,8}(?: [0-9a-f]{4,8})*) *(?:\t(.*))?$/;

/** objdump -D output → instructions; continuation lines (bytes only) extend the previous one. */
export function parseObjdump(text: string): Instruction[] {
  const out: Instruction[] = [];
  for (const line of text.split('\n')) {
    const m = OBJDUMP_LINE.exec(line);
    if (!m) continue;
    const offset = parseInt(m[1], 16);
    const bytes = m[2].trim();
    const length = bytes.split(' ').reduce((n, w) => n + (w.length >> 1), 0);
    if (m[3] === undefined || m[3].trim() === '') {
      const prev = out[out.length - 1];
      if (prev) {
        prev.bytes += ' ' + bytes;
        prev.length += length;
      }
      continue;
    }
    out.push({ offset, bytes, text: m[3].replace(/\s+$/, ''), length, trapping: false });
  }
  return out;
}

const LLVM_MC_LINE = /^\t(.*?)\s*(?:#|\/\/|@|;) encoding: \[([^\]]*)\]/;

/** llvm-mc --disassemble -show-encoding output → instructions with offsets from `start`. */
export function parseLlvmMc(text: string, start = 0): Instruction[] {
  const out: Instruction[] = [];
  let offset = start;
  for (const line of text.split('\n')) {
    const m = LLVM_MC_LINE.exec(line);
    if (!m) continue;
    const enc = m[2].split(',').map((s) => s.trim());
    const bytes = enc.map((e) => (/^0x[0-9a-f]{2}$/i.test(e) ? e.slice(2).toLowerCase() : '??')).join(' ');
    out.push({ offset, bytes, text: m[1].replace(/\t/g, ' ').trim(), length: enc.length, trapping: false });
    offset += enc.length;
  }
  return out;
}

function mark(list: Instruction[], faultOffset: number | undefined): void {
  if (faultOffset === undefined) return;
  // As decodecode: the instruction whose bytes cover the faulting unit.
  const hit = list.find((i) => i.offset <= faultOffset && faultOffset < i.offset + i.length);
  if (hit) hit.trapping = true;
}

async function inTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kdap-code-'));
  try {
    return await fn(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function viaObjdump(objdump: string, spec: ArchSpec, bytes: Buffer, faultOffset: number | undefined): Promise<[Instruction[], Instruction[]]> {
  return inTempDir(async (dir) => {
    // Like decodecode, the second listing is a separate object that starts at the faulting
    // byte, so relative targets read the same as in its output.
    const run = async (name: string, data: Buffer) => {
      const file = path.join(dir, name);
      await fs.writeFile(file, data, { mode: 0o600 });
      const r = await runProgram(objdump, ['-D', '-b', 'binary', ...spec.objdump, '-EL', file]);
      if (r.status !== 0) throw new Error(`${objdump}: ${r.stderr.trim() || `status ${r.status}`}`);
      return parseObjdump(r.stdout);
    };
    return Promise.all([run('all.bin', bytes), faultOffset !== undefined ? run('fault.bin', bytes.subarray(faultOffset)) : Promise.resolve([])]);
  });
}

async function viaLlvmMc(llvmMc: string, spec: ArchSpec, bytes: Buffer, faultOffset: number | undefined): Promise<[Instruction[], Instruction[]]> {
  const run = async (from: number) => {
    const hex = [...bytes.subarray(from)].map((b) => '0x' + b.toString(16).padStart(2, '0')).join(' ');
    return inTempDir(async (dir) => {
      const file = path.join(dir, 'code.txt');
      await fs.writeFile(file, hex + '\n', { mode: 0o600 });
      const r = await runProgram(llvmMc, ['--disassemble', '-show-encoding', `-triple=${spec.triple}`, file]);
      return parseLlvmMc(r.stdout);
    });
  };
  const [all, fromFault] = await Promise.all([run(0), faultOffset !== undefined ? run(faultOffset) : Promise.resolve([])]);
  return [all, fromFault];
}

/** Disassemblies by their input: a report's dump is decoded again with every decode of it. */
const decoded = new Map<string, Promise<DecodedCode | undefined>>();
const MAX_DECODED = 64;

/** Disassembles a report's `Code:` bytes; undefined when the arch or a tool is not available. */
export function decodeCode(code: CodeBytes, arch: Arch, tools: ToolOptions = {}): Promise<DecodedCode | undefined> {
  const key = JSON.stringify([arch, code.width, code.faultIndex, code.words, tools.toolchainPrefix ?? null, tools.llvmPath ?? null]);
  const have = decoded.get(key);
  if (have) return have;
  const result = disassemble(code, arch, tools);
  if (decoded.size >= MAX_DECODED) decoded.delete(decoded.keys().next().value as string);
  decoded.set(key, result);
  // No answer (no tool found, or it failed) is not remembered: the next decode tries again.
  result.then(
    (d) => void (d === undefined && decoded.delete(key)),
    () => void decoded.delete(key),
  );
  return result;
}

async function disassemble(code: CodeBytes, arch: Arch, tools: ToolOptions): Promise<DecodedCode | undefined> {
  if (code.words.length === 0) return undefined;
  const spec = archSpec(arch, code.width);
  if (!spec) return undefined;
  const { bytes, faultOffset } = codeBytes(code);
  const objdump = findBinutil('objdump', arch, tools);
  const llvmMc = findLlvmTool('llvm-mc', tools);
  let all: Instruction[];
  let fromFault: Instruction[];
  let tool: string;
  if (objdump) {
    [all, fromFault] = await viaObjdump(objdump, spec, bytes, faultOffset);
    tool = objdump;
  } else if (llvmMc) {
    [all, fromFault] = await viaLlvmMc(llvmMc, spec, bytes, faultOffset);
    tool = llvmMc;
  } else {
    return undefined;
  }
  mark(all, faultOffset);
  const trapping = fromFault[0] ? { ...fromFault[0], trapping: true } : all.find((i) => i.trapping);
  if (fromFault[0]) fromFault[0] = trapping!;
  return { arch, tool, faultOffset, all, fromFault, trapping };
}

function listing(list: readonly Instruction[], width: number): string[] {
  return list.map((i) => {
    const off = i.offset.toString(16).padStart(4, ' ');
    const bytes = width === 1 ? i.bytes.padEnd(21, ' ') : i.bytes + ' ';
    return `${off}:${i.trapping ? '*' : ''}\t${bytes}\t${i.text}${i.trapping ? '\t\t<-- trapping instruction' : ''}`;
  });
}

/** The two listings in scripts/decodecode's layout. */
export function formatDecodedCode(d: DecodedCode, width: number): string {
  const out: string[] = [];
  if (d.faultOffset !== undefined) out.push('All code', '========', ...listing(d.all, width), '');
  out.push('Code starting with the faulting instruction', '===========================================');
  const from = d.faultOffset !== undefined ? d.fromFault.map((i) => ({ ...i, trapping: false })) : d.all;
  out.push(...listing(from, width));
  return out.join('\n');
}
