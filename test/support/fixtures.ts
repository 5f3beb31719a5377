/**
 * Typed access to the kernel fixtures that scripts/fixtures.sh builds into the cache
 * (${KDAP_CACHE:-~/.cache/kdap}/fixtures.json): kernels, vmlinux with DWARF, initramfs,
 * the kdap_test module and the exact-version kernel source.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export type FixtureArch = 'x86_64' | 'arm64';
export const fixtureArches: readonly FixtureArch[] = ['x86_64', 'arm64'];

export interface PathMapping {
  from: string;
  to: string;
}

export interface ModuleFixture {
  /** Runtime .ko, as in the initramfs. */
  ko: string;
  /** Same module with DWARF (from the -dbg package). */
  debug: string;
  /** Where the initramfs holds it, for insmod in the guest. */
  guestPath: string;
}

export interface KmodFixture {
  name: 'kdap_test';
  /** Built module (its DWARF and __FILE__ name sourceFile). */
  ko: string;
  /**
   * The cache's read-only copy of test/fixtures/kmod the module was built from
   * (kmod/src-<hash of the sources>), the same for every checkout with these sources.
   */
  source: string;
  /** kdap_test.c in `source`: what the DWARF, WARN and BUG name, and where the `lines` are. */
  sourceFile: string;
  guestPath: string;
  /** Control file: write t, c, w, b or o (b and o from a child shell). */
  procFile: string;
  /** kdap_test_percpu on CPU n is percpuBase + n. */
  percpuBase: string;
  /** Source line of each `LINE:<name>` marker in sourceFile. */
  lines: Record<string, number>;
}

export interface ArchFixture {
  /** uname -r of the guest, e.g. 6.1.0-50-cloud-amd64. */
  release: string;
  /** Image for QEMU -kernel (bzImage; arm64: an uncompressed Image). */
  kernel: string;
  /** ELF kernel with DWARF. */
  vmlinux: string;
  systemMap: string;
  config: string;
  initrd: string;
  append: string;
  machine: string;
  cpu: string;
  /** QEMU program name. */
  qemu: string;
  /** Console device name inside the guest (ttyS0 / ttyAMA0). */
  console: string;
  /** gdb's `set architecture` name. */
  gdbArchitecture: string;
  buildId: string;
  kmod: KmodFixture;
  /** brd, binfmt_misc, dummy, loop: all in the initramfs, none with dependencies. */
  modules: Record<string, ModuleFixture>;
  /** Folder of the debug .ko files we extracted (only `modules`). */
  debugModulesDir: string;
  /** gdb substitute-path pairs that map the DWARF's paths onto sourceRoot. */
  substitutePath: PathMapping[];
  /** DW_AT_comp_dir of the kernel's C compile units (relative). */
  dwarfCompDir: string;
  /** Headers tree for `make -C <headers> M=<dir> modules`. */
  headers: string;
  /** CROSS_COMPILE for that build ("" on x86_64). */
  crossCompile: string;
}

/**
 * A small kernel built from the same source with KGDB (scripts/fixtures-kgdb.sh): Debian's
 * kernels have CONFIG_KGDB off. arm64 uses 64K pages, so it also serves the 64K page-table tests.
 */
export interface KgdbKernelFixture {
  /** uname -r, e.g. 6.1.176-kdap-kgdb. */
  release: string;
  /** bzImage / Image for QEMU -kernel. */
  kernel: string;
  vmlinux: string;
  config: string;
  /** Build directory (O=), where the DWARF's relative paths are resolved. */
  buildDir: string;
  /** The busybox initramfs of `arches` with this kernel's kdap_test.ko appended. */
  initrd: string;
  /** Command line without any kgdboc= or kgdbwait: the test adds its own. */
  append: string;
  machine: string;
  cpu: string;
  qemu: string;
  /** Console tty (ttyS0 / ttyAMA0). */
  console: string;
  /** tty kgdboc uses in the tests: a second UART on x86_64, the console's PL011 on arm64. */
  kgdbTty: string;
  gdbArchitecture: string;
  /** CONFIG_KGDB_KDB: SysRq-g enters kdb first. */
  kdb: boolean;
  pageSize: number;
  pgtableLevels: number;
  /** kdap_test.ko built against this kernel from the same copy as `arches`' (sourceFile). */
  kmod: { ko: string; sourceFile: string; guestPath: string };
  /** Seconds the kernel build took when the cache was cold. */
  buildSeconds: number;
}

/**
 * Debian's arm64 kernel with 16K pages (scripts/fixtures-16k.sh), a 6.12 build: the 16K
 * page-table test boots it under `-cpu max` (cortex-a57 has no 16K granule) with the busybox
 * initramfs of `arches.arm64`. No modules, no kdap_test.ko, no source tree.
 */
export interface Arm64_16kFixture {
  /** Debian package version, e.g. 6.12.117-1~deb12u1. */
  version: string;
  /** False when the pinned version was not downloadable and a newer one was used. */
  pinned: boolean;
  /** uname -r, e.g. 6.12.117+deb12-arm64-16k. */
  release: string;
  /** An uncompressed arm64 Image for QEMU -kernel. */
  kernel: string;
  vmlinux: string;
  config: string;
  initrd: string;
  append: string;
  machine: string;
  cpu: string;
  qemu: string;
  console: string;
  gdbArchitecture: string;
  buildId: string;
  pageSize: 16384;
  /** CONFIG_ARM64_VA_BITS: the most the kernel uses; 52 needs LPA2 in the CPU, else it runs with 47. */
  vaBits: number;
  /** CONFIG_PGTABLE_LEVELS: with 47-bit VAs at run time the top level is folded. */
  pgtableLevels: number;
  /** CONFIG_ARM64_LPA2. */
  lpa2: boolean;
  /** Empty: no 6.12 source is fetched. */
  substitutePath: PathMapping[];
  dwarfCompDir: string;
}

export interface Fixtures {
  /** Debian package version, e.g. 6.1.176-1. */
  version: string;
  abi: string;
  /** False when the pinned version was not downloadable and a newer set was used. */
  pinned: boolean;
  cache: string;
  /** Kernel source of exactly `version`. */
  sourceRoot: string;
  guest: { readyMarker: string; prompt: string };
  arches: Record<FixtureArch, ArchFixture>;
  /** Present once scripts/fixtures-kgdb.sh has run. */
  kgdb?: Record<FixtureArch, KgdbKernelFixture>;
  /** Present once scripts/fixtures-16k.sh could download the kernel. */
  arm64_16k?: Arm64_16kFixture;
}

export function fixturesCacheDir(): string {
  return path.resolve(process.env.KDAP_CACHE || path.join(os.homedir(), '.cache', 'kdap'));
}

export function manifestPath(): string {
  return path.join(fixturesCacheDir(), 'fixtures.json');
}

export class FixturesMissingError extends Error {
  constructor(detail: string) {
    super(`missing fixture: kernel fixtures are not ready (${detail}). Run \`npm run fixtures\` (bash scripts/fixtures.sh) first.`);
    this.name = 'FixturesMissingError';
  }
}

/** This checkout's test/fixtures/kmod (out/test/support is three levels below the root). */
export const checkoutKmodDir = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'kmod');

/**
 * Why a kdap_test.ko built from the copy in `source` is not this checkout's module, or undefined
 * when it is: the copy must hold the same kdap_test.c and Kbuild. Another checkout with edited
 * sources may have rebuilt the shared cache; its module has other lines and behaviour.
 */
export function kmodMismatch(source: string, checkout = checkoutKmodDir): string | undefined {
  for (const name of ['kdap_test.c', 'Kbuild']) {
    const mine = path.join(checkout, name);
    if (!fs.existsSync(mine)) return `${mine} is missing`;
    const built = path.join(source, name);
    if (!fs.existsSync(built)) return `${built} is missing`;
    if (!fs.readFileSync(built).equals(fs.readFileSync(mine))) return `kdap_test.ko was built from ${built}, which differs from ${mine}`;
  }
  return undefined;
}

let cached: Fixtures | undefined;

/** Reads and checks the manifest (once per process). Throws FixturesMissingError when absent. */
export function loadFixtures(): Fixtures {
  if (cached) return cached;
  const file = manifestPath();
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new FixturesMissingError(`no ${file}`);
  }
  let m: Fixtures;
  try {
    m = JSON.parse(text) as Fixtures;
  } catch (e) {
    throw new FixturesMissingError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  for (const arch of fixtureArches) {
    const a = m.arches?.[arch];
    if (!a) throw new FixturesMissingError(`${file} has no ${arch} entry`);
    for (const f of [a.kernel, a.vmlinux, a.initrd, a.kmod.ko, a.systemMap, a.kmod.sourceFile]) {
      if (!fs.existsSync(f)) throw new FixturesMissingError(`${f} is missing`);
    }
    const stale = kmodMismatch(a.kmod.source);
    if (stale) throw new FixturesMissingError(stale);
  }
  if (!fs.existsSync(m.sourceRoot)) throw new FixturesMissingError(`${m.sourceRoot} is missing`);
  cached = m;
  return m;
}

/** The fixture of one architecture. */
export function archFixture(arch: FixtureArch): ArchFixture {
  return loadFixtures().arches[arch];
}

/**
 * The 16K kernel, or why it cannot be had: the entry is left out when its download failed, and
 * its files may have been removed from the cache since.
 */
export function arm64_16kFixture(): Arm64_16kFixture | { missing: string } {
  const f = loadFixtures().arm64_16k;
  if (!f) return { missing: `missing fixture arm64_16k: not in ${manifestPath()} (scripts/fixtures-16k.sh could not download linux-image-*-arm64-16k-unsigned/-dbg)` };
  for (const file of [f.kernel, f.vmlinux, f.initrd]) {
    if (!fs.existsSync(file)) return { missing: `missing fixture arm64_16k: ${file} is missing (run bash scripts/fixtures-16k.sh)` };
  }
  return f;
}

/**
 * The kgdb kernel of one arch, or why it cannot be had ("missing fixture kgdb…": a skip with
 * that reason is a failure under CI, see test/support/tap-summary.ts).
 */
export function kgdbFixture(arch: FixtureArch): KgdbKernelFixture | { missing: string } {
  const k = loadFixtures().kgdb?.[arch];
  if (!k) return { missing: `missing fixture kgdb: no kgdb entry in ${manifestPath()} (run bash scripts/fixtures-kgdb.sh)` };
  for (const file of [k.kernel, k.vmlinux, k.initrd, k.kmod.ko, k.kmod.sourceFile]) {
    if (!fs.existsSync(file)) return { missing: `missing fixture kgdb: ${file} is missing (run bash scripts/fixtures-kgdb.sh)` };
  }
  const stale = kmodMismatch(path.dirname(k.kmod.sourceFile));
  if (stale) return { missing: `missing fixture kgdb: ${stale} (run bash scripts/fixtures-kgdb.sh)` };
  return k;
}

/** Line number of a `LINE:<name>` marker in kdap_test.c. */
export function kmodLine(arch: FixtureArch, marker: string): number {
  const line = archFixture(arch).kmod.lines[marker];
  if (line === undefined) throw new Error(`kdap_test.c has no /* LINE:${marker} */ marker`);
  return line;
}
