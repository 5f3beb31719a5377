/**
 * Opening a kernel dump of any supported format: the format is told by the first bytes, then
 * one reader gives the common shape: arch, per-CPU registers, VMCOREINFO and physical memory.
 * Opening reads headers, notes and (kdump-compressed) the bitmaps; never the pages.
 */
import type { Arch } from '../kernel/target';
import { DumpFormatError, WrongDumpError } from './errors';
import { EM_AARCH64, EM_X86_64, ElfMemory, isElf, parseElfCore, type LoadSegment } from './elf-core';
import { Fields, RandomAccessFile, type ByteSource } from './file';
import { FlattenedSource, isFlattened } from './flattened';
import { isKdump, KdumpMemory, parseKdumpHeader, type KdumpHeader } from './kdump';
import type { PhysicalMemory } from './memory';
import { NT_AUXV, NT_FILE, NT_PRPSINFO, NT_PRSTATUS, parseNotes, type Note } from './notes';
import { parsePrStatus, parseQemuCpuState, prstatusSize } from './prstatus';
import { VmcoreInfo } from './vmcoreinfo';

export type DumpFormat = 'elf' | 'kdump' | 'kdump-flattened';

export interface CpuState {
  /** 0-based, in the order the dump lists its CPUs. */
  readonly cpu: number;
  /** `pr_pid`: the task on the CPU (kdump) or QEMU's CPU index + 1. */
  readonly pid: number;
  /** gdb's names: `rip`, `rsp`, `cr3`… / `pc`, `sp`, `x29`, `cpsr`… */
  readonly registers: ReadonlyMap<string, bigint>;
}

/** A virtual range the dump's writer translated itself (QEMU -p, /proc/vmcore's p_vaddr). */
export interface VirtualRange {
  readonly va: bigint;
  readonly pa: bigint;
  readonly size: bigint;
}

export interface Dump {
  readonly path: string;
  readonly format: DumpFormat;
  readonly arch: Arch;
  readonly cpus: readonly CpuState[];
  readonly vmcoreinfo: VmcoreInfo | undefined;
  readonly memory: PhysicalMemory;
  /** Who wrote it: QEMU's dump-guest-memory (has `QEMU` notes or no crash), or the kernel's kdump. */
  readonly producer: 'qemu' | 'kdump';
  /** `uname -r` of the dumped kernel, from VMCOREINFO or the kdump header. */
  readonly release: string | undefined;
  /** makedumpfile's dump level (-d): which kinds of pages were left out; undefined for ELF. */
  readonly dumpLevel: number | undefined;
  /** The kdump header, for kdump-compressed dumps. */
  readonly kdumpHeader: KdumpHeader | undefined;
  /** p_vaddr → p_paddr of ELF PT_LOADs that carry a virtual address. */
  readonly virtualRanges: readonly VirtualRange[];
  close(): void;
}

const MACHINES: Record<number, string> = { 3: 'i386', 8: 'MIPS', 20: 'PowerPC', 21: 'PowerPC 64', 22: 'S/390', 40: 'ARM (32-bit)', 243: 'RISC-V' };

/** Opens a dump. Throws DumpFormatError (not a dump, truncated, corrupt) or WrongDumpError. */
export function openDump(path: string): Dump {
  const file = new RandomAccessFile(path);
  try {
    const head = file.size >= 32n ? file.read(0n, 32) : file.read(0n, Number(file.size));
    if (isElf(head)) return openElf(file);
    if (isKdump(head)) return openKdump(file, file, 'kdump');
    if (isFlattened(head)) return openKdump(file, new FlattenedSource(file), 'kdump-flattened');
    if (file.size === 0n) throw new DumpFormatError(path, 'the file is empty');
    throw new DumpFormatError(path, 'not a kernel dump: neither ELF, kdump-compressed (KDUMP) nor flattened (makedumpfile)');
  } catch (e) {
    file.close();
    throw e;
  }
}

function openElf(file: RandomAccessFile): Dump {
  const core = parseElfCore(file);
  const arch = archOfMachine(file.path, core.machine);
  const notes = parseNotes(core.notes);
  const vmcoreinfo = vmcoreinfoOf(notes);
  const qemu = notes.some((n) => n.name === 'QEMU');
  if (!vmcoreinfo && !qemu) rejectProcessCore(file.path, notes);
  const cpus = cpusOf(file.path, arch, notes);
  return {
    path: file.path,
    format: 'elf',
    arch,
    cpus,
    vmcoreinfo,
    memory: new ElfMemory(file, core.loads),
    producer: producerOf(vmcoreinfo, qemu),
    release: vmcoreinfo?.osrelease,
    dumpLevel: undefined,
    kdumpHeader: undefined,
    virtualRanges: virtualRangesOf(core.loads),
    close: () => file.close(),
  };
}

function openKdump(file: RandomAccessFile, source: ByteSource, format: DumpFormat): Dump {
  const header = parseKdumpHeader(source);
  const notes = header.notes ? parseNotes(source.read(header.notes.offset, header.notes.size)) : [];
  const arch = archOfUtsname(file.path, header.utsname.machine, notes);
  let vmcoreinfo = vmcoreinfoOf(notes);
  if (!vmcoreinfo && header.vmcoreinfo) {
    vmcoreinfo = new VmcoreInfo(new Fields(source.read(header.vmcoreinfo.offset, header.vmcoreinfo.size)).text(0, header.vmcoreinfo.size));
  }
  const qemu = notes.some((n) => n.name === 'QEMU');
  return {
    path: file.path,
    format,
    arch,
    cpus: cpusOf(file.path, arch, notes),
    vmcoreinfo,
    memory: new KdumpMemory(source, header),
    producer: producerOf(vmcoreinfo, qemu),
    release: vmcoreinfo?.osrelease ?? (header.utsname.release || undefined),
    dumpLevel: header.dumpLevel,
    kdumpHeader: header,
    virtualRanges: [],
    close: () => file.close(),
  };
}

function producerOf(vmcoreinfo: VmcoreInfo | undefined, qemu: boolean): 'qemu' | 'kdump' {
  return !qemu && vmcoreinfo?.crashTime !== undefined ? 'kdump' : 'qemu';
}

function archOfMachine(path: string, machine: number): Arch {
  if (machine === EM_X86_64) return 'x86_64';
  if (machine === EM_AARCH64) return 'arm64';
  throw new WrongDumpError(path, `a dump of ${MACHINES[machine] ?? `ELF machine ${machine}`}: kdap reads x86_64 and arm64 dumps`);
}

/** QEMU does not know the guest's uname and writes "Unknown": then the CPU notes' size tells. */
function archOfUtsname(path: string, machine: string, notes: readonly Note[]): Arch {
  if (machine === 'x86_64') return 'x86_64';
  if (machine === 'aarch64' || machine === 'arm64') return 'arm64';
  const status = notes.find((n) => n.name === 'CORE' && n.type === NT_PRSTATUS);
  if (machine === 'Unknown' && status) {
    const arch = (['x86_64', 'arm64'] as const).find((a) => prstatusSize(a) === status.desc.length);
    if (arch) return arch;
  }
  throw new WrongDumpError(path, `a dump of a ${machine || 'machine of unknown type'}: kdap reads x86_64 and arm64 dumps`);
}

function vmcoreinfoOf(notes: readonly Note[]): VmcoreInfo | undefined {
  const note = notes.find((n) => n.name === 'VMCOREINFO');
  return note ? new VmcoreInfo(new Fields(note.desc).text(0, note.desc.length)) : undefined;
}

/** A process's core has NT_PRPSINFO, NT_AUXV and NT_FILE; a kernel dump has none of them. */
function rejectProcessCore(path: string, notes: readonly Note[]): void {
  const core = notes.filter((n) => n.name === 'CORE');
  const info = core.find((n) => n.type === NT_PRPSINFO);
  if (!info && !core.some((n) => n.type === NT_AUXV || n.type === NT_FILE)) return;
  const program = info && info.desc.length >= 56 ? new Fields(info.desc).text(40, 16) : undefined;
  throw new WrongDumpError(path, `a user-space process core${program ? ` (of ${program})` : ''}, not a kernel dump`);
}

function cpusOf(path: string, arch: Arch, notes: readonly Note[]): CpuState[] {
  const statuses = notes.filter((n) => n.name === 'CORE' && n.type === NT_PRSTATUS);
  const qemu = notes.filter((n) => n.name === 'QEMU');
  return statuses.map((note, cpu) => {
    const status = parsePrStatus(arch, note.desc);
    if (!status) {
      throw new DumpFormatError(path, `CPU ${cpu}'s NT_PRSTATUS has ${note.desc.length} bytes, not the ${prstatusSize(arch)} of ${arch}: a dump of another arch, or corrupt`);
    }
    const extra = qemu[cpu] ? parseQemuCpuState(qemu[cpu].desc) : undefined;
    for (const [name, value] of extra ?? []) if (!status.registers.has(name)) status.registers.set(name, value);
    return { cpu, pid: status.pid, registers: status.registers };
  });
}

function virtualRangesOf(loads: readonly LoadSegment[]): VirtualRange[] {
  return loads
    .filter((l) => l.vaddr !== 0n && l.vaddr !== 0xffffffffffffffffn && l.filesz > 0n)
    .map((l) => ({ va: l.vaddr, pa: l.paddr, size: l.filesz }))
    .sort((a, b) => (a.va < b.va ? -1 : a.va > b.va ? 1 : 0));
}
