/** Picks the hook table for a target's architecture; the only place that lists the arches. */
import { UnsupportedError, type Arch } from '../target';
import type { ArchOps } from './arch';
import { arm64Paging } from './arm64/pagetable';
import { x86_64Paging } from './x86_64/pagetable';

const ARCHES: Readonly<Record<Arch, ArchOps>> = {
  x86_64: { arch: 'x86_64', paging: x86_64Paging },
  arm64: { arch: 'arm64', paging: arm64Paging },
};

/** Throws UnsupportedError for a name outside `Arch` (a target built from untyped input). */
export function archOps(arch: Arch): ArchOps {
  const ops = ARCHES[arch];
  if (!ops) throw new UnsupportedError(String(arch), 'kernel support');
  return ops;
}
