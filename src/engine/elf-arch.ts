/** Reads the architecture of a vmlinux from its ELF header (e_machine) without loading the file. */
import * as fs from 'node:fs';
import type { Arch } from '../kernel/target';
import { UserError } from './errors';

const EM_X86_64 = 62;
const EM_AARCH64 = 183;

export function elfArch(file: string): Arch {
  const fd = fs.openSync(file, 'r');
  try {
    const header = Buffer.alloc(20);
    const n = fs.readSync(fd, header, 0, 20, 0);
    if (n < 20 || header.readUInt32BE(0) !== 0x7f454c46) throw new UserError(`'${file}' is not an ELF file; "vmlinux" must be the ELF kernel, not a bzImage or Image.`);
    const little = header[5] === 1;
    const machine = little ? header.readUInt16LE(18) : header.readUInt16BE(18);
    if (machine === EM_X86_64) return 'x86_64';
    if (machine === EM_AARCH64) return 'arm64';
    throw new UserError(`'${file}' is built for ELF machine ${machine}; kdap debugs x86_64 and arm64 kernels.`);
  } finally {
    fs.closeSync(fd);
  }
}
