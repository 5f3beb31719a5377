/**
 * ELF notes (the PT_NOTE of a core file; kdump-compressed files keep a copy of the same bytes):
 * `Elf64_Nhdr` {namesz, descsz, type}, then the name and the descriptor, each padded to 4.
 */
import { Fields } from './file';

export const NT_PRSTATUS = 1;
export const NT_PRFPREG = 2;
export const NT_PRPSINFO = 3;
export const NT_AUXV = 6;
/** NT_FILE: the mapped files of a process core ("CORE" owner). */
export const NT_FILE = 0x46494c45;
/** The kernel's VMCOREINFO note has type 0 and owner "VMCOREINFO". */
export const NT_VMCOREINFO = 0;

export interface Note {
  /** Owner, without its NUL: `CORE`, `QEMU`, `VMCOREINFO`, `LINUX`. */
  readonly name: string;
  readonly type: number;
  readonly desc: Uint8Array;
}

/**
 * Every note in `bytes`, in order. A note that runs past the end stops the walk: /proc/vmcore
 * pads its note segment, and a truncated last note is kept out rather than trusted.
 */
export function parseNotes(bytes: Uint8Array): Note[] {
  const f = new Fields(bytes);
  const out: Note[] = [];
  for (let at = 0; at + 12 <= bytes.length; ) {
    const namesz = f.u32(at);
    const descsz = f.u32(at + 4);
    const type = f.u32(at + 8);
    // kexec-tools leaves zeroed headers for CPUs that saved nothing: an end, not a note.
    if (namesz === 0 && descsz === 0 && type === 0) break;
    const name = at + 12;
    const desc = name + align4(namesz);
    const end = desc + align4(descsz);
    if (desc + descsz > bytes.length) break;
    out.push({ name: f.text(name, namesz), type, desc: bytes.subarray(desc, desc + descsz) });
    at = end;
  }
  return out;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** One `Elf64_Nhdr` with name and descriptor, for building notes (tests, a served core). */
export function encodeNote(name: string, type: number, desc: Uint8Array): Uint8Array {
  const nameBytes = Buffer.from(name + '\0', 'latin1');
  const out = new Uint8Array(12 + align4(nameBytes.length) + align4(desc.length));
  const view = new DataView(out.buffer);
  view.setUint32(0, nameBytes.length, true);
  view.setUint32(4, desc.length, true);
  view.setUint32(8, type, true);
  out.set(nameBytes, 12);
  out.set(desc, 12 + align4(nameBytes.length));
  return out;
}
