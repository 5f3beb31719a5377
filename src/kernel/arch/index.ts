/** Picks the hook table for a target's architecture; the only place that lists the arches' tables. */
import { UnsupportedError } from '../target';
import type { ArchOps } from './arch';
import { arm64 } from './arm64';
import { ARCH_NAMES, type Arch } from './names';
import { x86_64 } from './x86_64';

const ARCHES: Readonly<Record<Arch, ArchOps>> = { x86_64, arm64 };

/** Throws UnsupportedError for a name outside `Arch` (a target built from untyped input). */
export function archOps(arch: Arch): ArchOps {
  const ops = ARCHES[arch];
  if (!ops) throw new UnsupportedError(String(arch), 'kernel support');
  return ops;
}

/** The arch whose vmlinux has ELF e_machine `machine`, if kdap debugs it. */
export function archOfElfMachine(machine: number): Arch | undefined {
  return ARCH_NAMES.find((a) => ARCHES[a].elfMachine === machine);
}

/** The arch of a kernel image from its first bytes (bzImage, arm64 Image), if one matches. */
export function archOfBootImage(header: Uint8Array): Arch | undefined {
  return ARCH_NAMES.find((a) => ARCHES[a].isBootImage(header));
}
