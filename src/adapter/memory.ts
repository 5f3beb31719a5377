/** The Memory view and the Disassembly view: reads, writes and instructions around an address. */
import type { DebugProtocol } from '@vscode/debugprotocol';
import * as data from '../gdb/mi/data';
import { bestEffort, UserError } from '../engine/errors';
import { archOps } from '../kernel/arch';
import type { Attached } from './attached';

export async function readMemory(a: Attached, args: DebugProtocol.ReadMemoryArguments): Promise<DebugProtocol.ReadMemoryResponse['body']> {
  const address = BigInt(args.memoryReference) + BigInt(args.offset ?? 0);
  // What cannot be read is reported as unreadable bytes.
  const bytes = await bestEffort(data.readMemory(a.kernel.engine.gdb, address, args.count), 'readMemory', new Uint8Array(0));
  return {
    address: `0x${address.toString(16)}`,
    data: Buffer.from(bytes).toString('base64'),
    unreadableBytes: args.count - bytes.length,
  };
}

export async function writeMemory(a: Attached, args: DebugProtocol.WriteMemoryArguments): Promise<DebugProtocol.WriteMemoryResponse['body']> {
  if (!a.kernel.connection.capabilities.writeMemory) throw new UserError(`Memory cannot be written${a.kernel.connection.capabilities.resume ? ` through ${a.kernel.connection.name}` : `: ${a.kernel.connection.name} is read-only`}.`);
  const address = BigInt(args.memoryReference) + BigInt(args.offset ?? 0);
  const bytes = Buffer.from(args.data, 'base64');
  await data.writeMemory(a.kernel.engine.gdb, address, bytes);
  return { bytesWritten: bytes.length };
}

export async function disassemble(a: Attached, args: DebugProtocol.DisassembleArguments): Promise<DebugProtocol.DisassembleResponse['body']> {
  const base = BigInt(args.memoryReference) + BigInt(args.offset ?? 0);
  const count = args.instructionCount;
  const before = Math.max(0, -(args.instructionOffset ?? 0));
  // Read a window wide enough for `before` instructions of the longest kind.
  const width = BigInt(archOps(a.kernel.arch).maxInstructionBytes);
  const start = base - BigInt(before) * width;
  const insns = await data.disassemble(a.kernel.engine.gdb, start, base + BigInt(count) * width);
  const firstAt = insns.findIndex((i) => i.address >= base);
  const from = Math.max(0, firstAt - before);
  return {
    instructions: insns.slice(from, from + count).map((i) => ({
      address: `0x${i.address.toString(16)}`,
      instructionBytes: i.opcodes,
      instruction: i.inst,
      symbol: i.func ? `${i.func}+${i.offset ?? 0}` : undefined,
    })),
  };
}
