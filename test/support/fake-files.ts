/**
 * Files that stand in for a kernel build in tests of discovery: only the bytes discovery reads.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The 64-byte ELF64 header of a little-endian executable for `machine` (62 x86_64, 183 aarch64). */
export function elfHeader(machine: number): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2; // ELFCLASS64
  b[5] = 1; // little endian
  b[6] = 1;
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(machine, 18);
  return b;
}

/** Writes `content` to `file`, making its folders; returns the path. */
export function writeFile(file: string, content: string | Buffer = ''): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  return file;
}
