/**
 * Whether a code address is a return address, decided by binutils' disassembler alone: it is one
 * when the instruction right before it is a call (the CPU pushed, or put in LR, the address after
 * the call). The e2e Oops oracle uses this, never kdap's own answer, to
 * pick the address it hands to addr2line and faddr2line (a return address is looked up at − 1).
 */
import { spawnSync } from 'node:child_process';

export interface Instruction {
  address: bigint;
  text: string;
}

export interface DisasmInput {
  /** objdump for the object's arch (aarch64-linux-gnu-objdump for arm64). */
  objdump: string;
  file: string;
  /** For a relocatable .ko: the section the function is in (addresses are section offsets). */
  section?: string;
  /** The function's first instruction: disassembly starts on an instruction boundary. */
  start: bigint;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** objdump -d of [start, end). */
export function disassemble(input: DisasmInput, end: bigint): Instruction[] {
  const args = ['-d', '-w', '--no-show-raw-insn', `--start-address=${hex(input.start)}`, `--stop-address=${hex(end)}`];
  if (input.section) args.push('-j', input.section);
  args.push(input.file);
  const r = spawnSync(input.objdump, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${input.objdump} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`);
  const out: Instruction[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*([0-9a-f]+):\t(.+)$/.exec(line);
    if (m) out.push({ address: BigInt(`0x${m[1]}`), text: m[2].trim() });
  }
  return out;
}

/** x86 `call`/`callq` (direct, indirect, through a thunk); arm64 `bl`, `blr` and PAC `blraa`…. */
export function isCall(text: string): boolean {
  return /^(call|callq)\b/.test(text) || /^bl(r[a-z]*)?\s/.test(text);
}

/**
 * Whether `at` (an address inside the function starting at `input.start`) follows a call: the
 * instruction covering `at - 1` is a call. Usually that call ends exactly at `at`. At a call site
 * the kernel patches at boot (paravirt `call *pv_ops…`, a retpoline thunk call turned into
 * `call *%reg`) the running code is shorter than the file's, so the return address falls inside
 * the call as the file has it: still a call site, still a return address.
 */
export function followsCall(input: DisasmInput, at: bigint): { returnAddress: boolean; before?: Instruction; boundary: boolean } {
  if (at <= input.start) return { returnAddress: false, boundary: true };
  const insns = disassemble(input, at + 16n);
  let before: Instruction | undefined;
  for (const x of insns) if (x.address <= at - 1n) before = x;
  const boundary = insns.some((x) => x.address === at);
  return { returnAddress: before !== undefined && isCall(before.text), before, boundary };
}
