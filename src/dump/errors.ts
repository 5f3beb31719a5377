/**
 * What can go wrong with a dump, as types a caller can tell apart: the file is not a dump kdap
 * reads (or is cut short or corrupt), it is the wrong kind of core (a process's, another arch's,
 * another kernel's), or a page the caller wants was never saved in it.
 */
import { FaultError } from '../kernel/target';

/** The file is not a dump kdap can read, or it is truncated or corrupt. Names the file and why. */
export class DumpFormatError extends Error {
  constructor(readonly path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'DumpFormatError';
  }
}

/** A well-formed core that is the wrong one: a process's core, another arch, another kernel. */
export class WrongDumpError extends Error {
  constructor(readonly path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'WrongDumpError';
  }
}

/**
 * A physical page that the dump does not hold: filtered out by makedumpfile's dump level,
 * outside every saved range, or lost when the dump was cut short. Never read as zeros.
 */
export class NotInDumpError extends FaultError {
  constructor(address: bigint, length: number, readonly physical: bigint, readonly reason: string) {
    super(address, length, `not in this dump: physical 0x${physical.toString(16)} ${reason}`);
    this.name = 'NotInDumpError';
  }
}

/** A compressed page that does not decompress to one page. */
export class CorruptPageError extends Error {
  constructor(readonly pfn: bigint, message: string) {
    super(`page frame 0x${pfn.toString(16)}: ${message}`);
    this.name = 'CorruptPageError';
  }
}
