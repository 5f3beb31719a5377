/** Reads the architecture of a vmlinux from its ELF header (e_machine) without loading the file. */
import * as fs from 'node:fs';
import { archOfElfMachine } from '../kernel/arch';
import { ARCH_NAMES, type Arch } from '../kernel/arch/names';
import { UserError } from './errors';

/** e_machine of an ELF header (its first 20 bytes); undefined when it is not ELF. */
export function elfMachine(header: Uint8Array): number | undefined {
  const b = Buffer.from(header.buffer, header.byteOffset, header.byteLength);
  if (b.length < 20 || b.readUInt32BE(0) !== 0x7f454c46) return undefined;
  return b[5] === 2 ? b.readUInt16BE(18) : b.readUInt16LE(18);
}

export function elfArch(file: string): Arch {
  const fd = fs.openSync(file, 'r');
  try {
    const header = Buffer.alloc(20);
    const n = fs.readSync(fd, header, 0, 20, 0);
    const machine = elfMachine(header.subarray(0, n));
    if (machine === undefined) throw new UserError(`'${file}' is not an ELF file; "vmlinux" must be the ELF kernel, not a bzImage or Image.`);
    const arch = archOfElfMachine(machine);
    if (!arch) throw new UserError(`'${file}' is built for ELF machine ${machine}; kdap debugs ${ARCH_NAMES.join(' and ')} kernels.`);
    return arch;
  } finally {
    fs.closeSync(fd);
  }
}
