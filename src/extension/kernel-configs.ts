/**
 * Launch configurations made from the kernel builds a workspace holds (engine/kernel-tree.ts):
 * what F5 launches in a kernel tree without a launch.json, what a new launch.json starts with,
 * and which source tree goes with a vmlinux. No VS Code API here, so the unit tier tests it.
 */
import * as path from 'node:path';
import { serialConsole, sourceMatches, type KernelBuild, type KernelSource } from '../engine/kernel-tree';
import type { Arch } from '../kernel/target';

/** A build with everything a launch needs. */
export type LaunchableBuild = KernelBuild & { readonly image: string; readonly vmlinux: string; readonly arch: Arch };

export function isLaunchable(b: KernelBuild): b is LaunchableBuild {
  return b.image !== undefined && b.vmlinux !== undefined && b.arch !== undefined;
}

/** What kdap passes on the command line of a kernel it boots: the serial console. KASLR stays on: the session finds the slide. */
export function launchAppend(arch: Arch): string {
  return serialConsole(arch);
}

/** `p` as `${workspaceFolder}/…` when it lies inside `folder`, else as is. */
export function inFolder(p: string, folder: string | undefined): string {
  if (!folder) return p;
  const rel = path.relative(folder, p);
  if (rel === '') return '${workspaceFolder}';
  return rel.startsWith('..') || path.isAbsolute(rel) ? p : `\${workspaceFolder}/${rel.split(path.sep).join('/')}`;
}

/** Where a build is, for people: `build-arm64`, `linux` (in-tree), or its full path outside the folders. */
export function buildPlace(b: KernelBuild, folders: readonly string[]): string {
  for (const f of folders) {
    const rel = path.relative(f, b.dir);
    if (!rel.startsWith('..') && !path.isAbsolute(rel)) return rel === '' ? path.basename(f) : rel;
  }
  return b.dir;
}

/** One quick-pick line per build: `arm64 · build-arm64`, with its release and image. */
export function buildItem(b: LaunchableBuild, folders: readonly string[]): { label: string; description: string; detail: string } {
  return {
    label: `${b.arch} · ${buildPlace(b, folders)}`,
    description: b.release ?? '',
    detail: `${path.relative(b.dir, b.image)}${b.inTree ? ' (in-tree build)' : ` (make O=, source ${b.source ?? '?'})`}`,
  };
}

export interface BuildConfigOptions {
  /** Write paths inside this folder as `${workspaceFolder}/…` (for a launch.json). */
  readonly folder?: string;
  /** Every workspace folder, for the configuration's name. */
  readonly folders?: readonly string[];
  /** The gdb of the build's toolchain, when it is on PATH. */
  readonly gdbPath?: string;
}

/** A launch configuration that boots the build under QEMU and stops at start_kernel. */
export function configForBuild(b: LaunchableBuild, options: BuildConfigOptions = {}): Record<string, unknown> {
  const p = (file: string) => inFolder(file, options.folder);
  const config: Record<string, unknown> = {
    type: 'kdap',
    request: 'launch',
    name: `QEMU ${b.arch} · ${buildPlace(b, options.folders ?? (options.folder ? [options.folder] : []))}`,
    kernel: p(b.image),
    vmlinux: p(b.vmlinux),
    append: launchAppend(b.arch),
    smp: 2,
    memory: '512M',
    stopAt: 'start_kernel',
  };
  if (b.source) config.sourceRoot = p(b.source);
  if (options.gdbPath) config.gdbPath = options.gdbPath;
  // CONFIG_GDB_SCRIPTS: the kernel's own lx-* commands in the Debug Console.
  if (b.gdbScript) config.setupCommands = [`source ${p(b.gdbScript)}`];
  return config;
}

/** The vmlinux as its file tells: release, banner, build id (engine/linked-kernel.ts). */
export interface VmlinuxIdentity {
  readonly release?: string;
  readonly banner?: string;
  readonly buildId?: string;
}

export type SourceChoice =
  | { readonly root: string; readonly why: 'build' | 'workspace' | 'remembered' }
  | { readonly ask: true }
  | { readonly none: true };

/**
 * Which source tree goes with a vmlinux: the tree of the build it belongs to; else a workspace
 * folder that is a kernel tree of the same version; else the one the user located before for
 * this build id; else ask, unless the user already declined for this build id.
 */
export function chooseSourceTree(input: {
  readonly build?: Pick<KernelBuild, 'source'>;
  readonly identity?: VmlinuxIdentity;
  readonly sources: readonly KernelSource[];
  readonly remembered?: string | { declined: true };
}): SourceChoice {
  if (input.build?.source) return { root: input.build.source, why: 'build' };
  const id = input.identity;
  if (id) {
    const match = input.sources.find((s) => sourceMatches(s, id.release, id.banner));
    if (match) return { root: match.root, why: 'workspace' };
  }
  if (typeof input.remembered === 'string') return { root: input.remembered, why: 'remembered' };
  if (input.remembered || !id?.buildId) return { none: true };
  return { ask: true };
}
