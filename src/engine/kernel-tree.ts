/**
 * Kernel source trees and their builds, found from a few directories (VS Code's workspace
 * folders) or from a kernel image: in-tree builds and `make O=<dir>` builds, x86_64 and arm64
 * (`ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-`).
 *
 * A source tree has `Kbuild`, `Makefile`, `scripts/` and `MAINTAINERS` (or `Kconfig`) at its top.
 * A build directory has `.config`; an O= build also has the `source` link and a two-line
 * `Makefile` that includes the tree's. Cost: a few `stat`s per directory looked at, never a walk
 * of a source tree: inside one only the directories that are not the kernel's own are looked
 * into (`build/`, `out/arm64/`), to a bounded depth and count.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { which } from '../gdb/select';
import { archOfElfMachine } from '../kernel/arch';
import { allBootFacts, bootFacts } from '../kernel/arch/boot';
import type { Arch } from '../kernel/target';
import { ElfFile } from '../oops/elf';

export interface KernelSource {
  /** The tree's directory, symbolic links resolved. */
  readonly root: string;
  /** VERSION.PATCHLEVEL.SUBLEVEL and EXTRAVERSION of the top Makefile: `6.1.176`, `6.10.0-rc3`. */
  readonly version?: string;
}

export interface KernelBuild {
  /** The build directory: the O= directory, or the tree itself for an in-tree build. */
  readonly dir: string;
  /** The source tree the build was made from. */
  readonly source?: string;
  readonly inTree: boolean;
  /** From the vmlinux's ELF header, else from the .config. */
  readonly arch?: Arch;
  /** The image QEMU boots (`arch/x86/boot/bzImage`, `arch/arm64/boot/Image`), when built. */
  readonly image?: string;
  readonly vmlinux?: string;
  /** `include/config/kernel.release`: what `uname -r` prints on this kernel. */
  readonly release?: string;
  /** `vmlinux-gdb.py` (CONFIG_GDB_SCRIPTS): the kernel's own `lx-*` gdb commands. */
  readonly gdbScript?: string;
  /** The CROSS_COMPILE the build used (`aarch64-linux-gnu-`), '' for the host compiler or clang. */
  readonly crossCompile: string;
}

export interface Discovery {
  readonly sources: readonly KernelSource[];
  readonly builds: readonly KernelBuild[];
  /** Directories looked at, for the record (and the benchmark). */
  readonly visited: number;
}

export interface DiscoveryLimits {
  /** How deep below a folder build directories are looked for (`out/arm64` is 2). */
  maxDepth?: number;
  /** Directories looked at in all. */
  maxDirs?: number;
  /** Entries of one directory considered. */
  maxEntries?: number;
}

const defaults: Required<DiscoveryLimits> = { maxDepth: 3, maxDirs: 2000, maxEntries: 512 };

/** Top-level directories of a kernel source tree: never build directories, never entered. */
const kernelDirs = new Set([
  'Documentation', 'LICENSES', 'arch', 'block', 'certs', 'crypto', 'drivers', 'fs', 'include', 'init',
  'io_uring', 'ipc', 'kernel', 'lib', 'mm', 'net', 'rust', 'samples', 'scripts', 'security', 'sound',
  'tools', 'usr', 'virt',
]);
const neverEntered = new Set(['.git', 'node_modules', '.vscode', '.cache']);

async function isFile(p: string): Promise<boolean> {
  return fs.stat(p).then((s) => s.isFile(), () => false);
}

async function isDir(p: string): Promise<boolean> {
  return fs.stat(p).then((s) => s.isDirectory(), () => false);
}

async function readHead(p: string, bytes: number): Promise<string | undefined> {
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(p, 'r');
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.toString('utf8', 0, bytesRead);
  } catch {
    return undefined;
  } finally {
    await fh?.close();
  }
}

async function realpath(p: string): Promise<string> {
  return fs.realpath(p).catch(() => path.resolve(p));
}

/** `6.1.176` from the variables at the top of a kernel Makefile. */
export function makefileVersion(text: string): string | undefined {
  const get = (name: string) => new RegExp(`^${name}\\s*=[ \\t]*(\\S*)`, 'm').exec(text)?.[1];
  const [v, p, s, e] = [get('VERSION'), get('PATCHLEVEL'), get('SUBLEVEL'), get('EXTRAVERSION')];
  if (!v || !p) return undefined;
  return `${v}.${p}${s !== undefined && s !== '' ? `.${s}` : ''}${e ?? ''}`;
}

/** The tree at `dir`, or undefined when it is not a kernel source tree. */
export async function readKernelSource(dir: string): Promise<KernelSource | undefined> {
  const [kbuild, scripts, maintainers, kconfig] = await Promise.all([
    isFile(path.join(dir, 'Kbuild')),
    isDir(path.join(dir, 'scripts')),
    isFile(path.join(dir, 'MAINTAINERS')),
    isFile(path.join(dir, 'Kconfig')),
  ]);
  if (!kbuild || !scripts || !(maintainers || kconfig)) return undefined;
  const makefile = await readHead(path.join(dir, 'Makefile'), 1024);
  if (makefile === undefined) return undefined;
  return { root: await realpath(dir), version: makefileVersion(makefile) };
}

/**
 * The cross-compiler prefix from CONFIG_CC_VERSION_TEXT (`"aarch64-linux-gnu-gcc (Debian …) 12.2.0"`).
 * Only a bare program prefix is taken, so a .config can never name a path to run.
 */
export function crossCompileOf(config: string): string {
  const text = /^CONFIG_CC_VERSION_TEXT="([^"]*)"/m.exec(config)?.[1] ?? '';
  const m = /^([A-Za-z0-9_.+]+(?:-[A-Za-z0-9_.+]+)*-)gcc\b/.exec(text);
  return m?.[1] ?? '';
}

/** The arch a .config is for, from the arch's Kconfig symbol. */
export function archOfConfig(config: string): Arch | undefined {
  return allBootFacts.find((b) => new RegExp(`^${b.kconfig}=y$`, 'm').test(config))?.arch;
}

/** The arch of an ELF file (a vmlinux), or undefined when it is not ELF or not an arch kdap debugs. */
export async function elfFileArch(file: string): Promise<Arch | undefined> {
  let elf: ElfFile | undefined;
  try {
    elf = await ElfFile.open(file);
    return archOfElfMachine(elf.header.machine);
  } catch {
    return undefined;
  } finally {
    await elf?.close();
  }
}

/** O= builds name their tree through `source`; older ones only in the generated Makefile. */
async function sourceOfBuild(dir: string): Promise<string | undefined> {
  const link = path.join(dir, 'source');
  if (await isDir(link)) return realpath(link);
  const makefile = await readHead(path.join(dir, 'Makefile'), 512);
  const included = makefile && /^include\s+(\S+)\/Makefile\s*$/m.exec(makefile)?.[1];
  if (included && makefile.startsWith('# Automatically generated')) {
    const src = path.resolve(dir, included);
    if (await readKernelSource(src)) return realpath(src);
  }
  return undefined;
}

/** The build at `dir` (it has a .config), or undefined. */
export async function readKernelBuild(dir: string): Promise<KernelBuild | undefined> {
  const config = await fs.readFile(path.join(dir, '.config'), 'utf8').catch(() => undefined);
  if (config === undefined) return undefined;
  const tree = await readKernelSource(dir);
  const source = tree ? tree.root : await sourceOfBuild(dir);
  if (!tree && !source) return undefined;
  const vmlinuxPath = path.join(dir, 'vmlinux');
  const vmlinux = (await isFile(vmlinuxPath)) ? vmlinuxPath : undefined;
  const arch = (vmlinux && (await elfFileArch(vmlinux))) || archOfConfig(config);
  const images = arch ? bootFacts(arch).images : allBootFacts.flatMap((b) => b.images);
  let image: string | undefined;
  for (const rel of images) {
    if (await isFile(path.join(dir, rel))) {
      image = path.join(dir, rel);
      break;
    }
  }
  const release = (await readHead(path.join(dir, 'include', 'config', 'kernel.release'), 256))?.trim() || undefined;
  const script = path.join(dir, 'vmlinux-gdb.py');
  const gdbScript = /^CONFIG_GDB_SCRIPTS=y$/m.test(config) && (await isFile(script)) ? script : undefined;
  return {
    dir: await realpath(dir),
    source,
    inTree: tree !== undefined,
    arch,
    image,
    vmlinux,
    release,
    gdbScript,
    crossCompile: crossCompileOf(config),
  };
}

interface Pending {
  dir: string;
  depth: number;
  /** The directory is a kernel source tree: its own top-level directories are skipped. */
  inSource: boolean;
}

/**
 * Source trees and builds in and below `folders` (bounded), plus O= builds next to a folder
 * that is a source tree (`make O=../build-arm64`). Builds come in the order found, folders first.
 */
export async function findKernelBuilds(folders: readonly string[], limits: DiscoveryLimits = {}): Promise<Discovery> {
  const { maxDepth, maxDirs, maxEntries } = { ...defaults, ...limits };
  const sources = new Map<string, KernelSource>();
  const builds = new Map<string, KernelBuild>();
  const seen = new Set<string>();
  let visited = 0;

  const look = async (dir: string): Promise<{ source?: KernelSource; build?: KernelBuild }> => {
    visited++;
    const [source, build] = await Promise.all([readKernelSource(dir), readKernelBuild(dir)]);
    if (source && !sources.has(source.root)) sources.set(source.root, source);
    if (build && !builds.has(build.dir)) builds.set(build.dir, build);
    return { source, build };
  };

  const queue: Pending[] = [];
  for (const folder of folders) {
    const real = await realpath(folder);
    if (seen.has(real)) continue;
    seen.add(real);
    const { source, build } = await look(real);
    if (build?.source && !sources.has(build.source)) {
      const tree = await readKernelSource(build.source);
      if (tree) sources.set(tree.root, tree);
    }
    if (source) await findSiblingBuilds(source.root, maxEntries, builds, () => visited++);
    if (!build || build.inTree) queue.push({ dir: real, depth: 0, inSource: source !== undefined });
  }

  while (queue.length > 0 && visited < maxDirs) {
    const { dir, depth, inSource } = queue.shift()!;
    if (depth >= maxDepth) continue;
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries.slice(0, maxEntries)) {
      if (visited >= maxDirs) break;
      if (!entry.isDirectory() && !entry.isSymbolicLink()) continue;
      if (neverEntered.has(entry.name) || (inSource && kernelDirs.has(entry.name))) continue;
      const child = path.join(dir, entry.name);
      if (!(await isDir(child))) continue;
      const real = await realpath(child);
      if (seen.has(real)) continue;
      seen.add(real);
      const { source, build } = await look(child);
      // An O= build holds a copy of the tree's layout: nothing more to find inside it.
      if (build && !build.inTree) continue;
      queue.push({ dir: child, depth: depth + 1, inSource: source !== undefined });
    }
  }
  return { sources: [...sources.values()], builds: [...builds.values()], visited };
}

/** `make O=../build` puts the build beside the tree: entries of the parent linking back to it. */
async function findSiblingBuilds(
  root: string,
  maxEntries: number,
  builds: Map<string, KernelBuild>,
  count: () => void,
): Promise<void> {
  const parent = path.dirname(root);
  const entries = await fs.readdir(parent, { withFileTypes: true }).catch(() => []);
  for (const entry of entries.slice(0, maxEntries)) {
    // A link to a build elsewhere (`ln -s ~/builds/arm64 ../build-arm64`) counts as a sibling.
    if ((!entry.isDirectory() && !entry.isSymbolicLink()) || path.join(parent, entry.name) === root) continue;
    const link = path.join(parent, entry.name, 'source');
    const target = await fs.readlink(link).catch(() => undefined);
    if (target === undefined) continue;
    count();
    if ((await realpath(link)) !== root) continue;
    const build = await readKernelBuild(path.join(parent, entry.name));
    if (build && !builds.has(build.dir)) builds.set(build.dir, build);
  }
}

/**
 * The build a kernel image sits in (`<build>/arch/<arch>/boot/<image>`) and its vmlinux, which
 * is all a launch needs besides the image. `build` is set when the directory is a kernel build
 * (has a .config); `vmlinux` whenever `<build>/vmlinux` exists.
 */
export async function buildOfImage(image: string): Promise<{ dir?: string; vmlinux?: string; build?: KernelBuild }> {
  const m = /^(.*)[/\\]arch[/\\][^/\\]+[/\\]boot[/\\][^/\\]+$/.exec(path.resolve(image));
  if (!m) return {};
  const dir = m[1];
  const build = await readKernelBuild(dir);
  const vmlinux = build?.vmlinux ?? ((await isFile(path.join(dir, 'vmlinux'))) ? path.join(dir, 'vmlinux') : undefined);
  return { dir, vmlinux, build };
}

/**
 * The gdb the build's toolchain brings (`aarch64-linux-gnu-gdb` for CROSS_COMPILE=aarch64-linux-gnu-),
 * when it is on PATH; otherwise undefined and the usual choice applies (gdb-multiarch, gdb).
 */
export function toolchainGdb(build: Pick<KernelBuild, 'crossCompile'>, envPath = process.env.PATH ?? ''): string | undefined {
  return build.crossCompile ? which(`${build.crossCompile}gdb`, envPath) : undefined;
}

/** The kernel command line's console for the serial port of the QEMU machine kdap starts. */
export function serialConsole(arch: Arch): string {
  return bootFacts(arch).serialConsole;
}

/** `release` of a `linux_banner` ("Linux version 6.1.0-50-cloud-amd64 (…) … #1 SMP …"). */
export function bannerRelease(banner: string): string | undefined {
  return /^Linux version (\S+)/.exec(banner)?.[1];
}

/**
 * Whether a source tree is the one a kernel was built from, by version. A distro kernel's
 * banner names the upstream version it packages after the build number (Debian's
 * `#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2025-…)`), and its release (`6.1.0-50-cloud-amd64`)
 * is an ABI name, not a version: that token decides when present. Otherwise the release is
 * the tree's version plus any LOCALVERSION (`6.1.176-kdap-kgdb`).
 */
export function sourceMatches(source: KernelSource, release: string | undefined, banner?: string): boolean {
  const version = source.version;
  if (!version) return false;
  const build = banner ? banner.slice(Math.max(0, banner.indexOf(' #'))) : '';
  const packaged = / #\S+.*?\b(\d+\.\d+\.\d+(?:-rc\d+)?)/.exec(build)?.[1];
  if (packaged) return packaged === version;
  const r = release ?? (banner ? bannerRelease(banner) : undefined);
  if (!r) return false;
  return r === version || (r.startsWith(version) && /^[-+_~]/.test(r.slice(version.length)));
}
