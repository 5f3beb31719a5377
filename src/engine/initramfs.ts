/**
 * A minimal initramfs for a launch that names none: a static busybox for the target's arch, run
 * as init with an inittab (so neither a shell script nor CONFIG_BINFMT_SCRIPT is needed), a
 * shell on the console, /dev/console in the archive. Written as an uncompressed cpio (newc) by
 * our own code, so it needs no root for the device node and no CONFIG_RD_GZIP, and cached by
 * the hash of what goes into it.
 *
 * Without a busybox that fits, `minimalInitramfs` says so in words a user can act on: the kernel
 * would boot and stop at "No working init found".
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { archOfElfMachine } from '../kernel/arch';
import { bootFacts } from '../kernel/arch/boot';
import type { Arch } from '../kernel/target';

export interface CpioEntry {
  /** Path inside the archive, without a leading slash: `bin/busybox`. */
  readonly name: string;
  readonly type: 'file' | 'dir' | 'symlink' | 'char';
  /** Permission bits; default 0755 for files and dirs, 0777 for links, 0600 for devices. */
  readonly mode?: number;
  readonly data?: Uint8Array;
  /** symlink: where it points. */
  readonly target?: string;
  /** char: the device number. */
  readonly major?: number;
  readonly minor?: number;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function typeBits(e: CpioEntry): number {
  switch (e.type) {
    case 'dir':
      return S_IFDIR | (e.mode ?? 0o755);
    case 'file':
      return S_IFREG | (e.mode ?? 0o755);
    case 'symlink':
      return S_IFLNK | (e.mode ?? 0o777);
    case 'char':
      return S_IFCHR | (e.mode ?? 0o600);
  }
}

const pad4 = (n: number) => (4 - (n % 4)) % 4;

/**
 * The "new" portable cpio format the kernel unpacks (Documentation/driver-api/early-userspace/
 * buffer-format.rst): a 110-byte ASCII header of 8-digit hex fields per entry, the NUL-ended
 * name and the data each padded to 4 bytes, and a TRAILER!!! entry. Owner root, mtime 0, so
 * the same entries always give the same bytes.
 */
export function cpioNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const push = (name: string, mode: number, body: Uint8Array, rdevMajor = 0, rdevMinor = 0, nlink = 1) => {
    const nameBytes = Buffer.from(`${name}\0`, 'utf8');
    const fields = [ino++, mode, 0, 0, nlink, 0, body.length, 0, 0, rdevMajor, rdevMinor, nameBytes.length, 0];
    const header = '070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join('');
    parts.push(Buffer.from(header, 'ascii'), nameBytes, Buffer.alloc(pad4(110 + nameBytes.length)));
    parts.push(Buffer.from(body), Buffer.alloc(pad4(body.length)));
  };
  for (const e of entries) {
    if (!e.name || e.name.startsWith('/') || e.name.split('/').includes('..')) throw new Error(`bad cpio entry name ${JSON.stringify(e.name)}`);
    const body = e.type === 'symlink' ? Buffer.from(e.target ?? '', 'utf8') : e.type === 'file' ? (e.data ?? new Uint8Array()) : new Uint8Array();
    push(e.name, typeBits(e), body, e.major ?? 0, e.minor ?? 0, e.type === 'dir' ? 2 : 1);
  }
  ino = 0;
  push('TRAILER!!!', 0, new Uint8Array(), 0, 0, 1);
  return Buffer.concat(parts);
}

/** What an ELF file is, from its header and program headers: enough to tell a static binary. */
export async function elfExecutableInfo(file: string): Promise<{ arch: Arch | undefined; static: boolean } | undefined> {
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(file, 'r');
    const h = Buffer.alloc(64);
    if ((await fh.read(h, 0, 64, 0)).bytesRead < 64 || h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2 || h[5] !== 1) return undefined;
    const phoff = Number(h.readBigUInt64LE(0x20));
    const phentsize = h.readUInt16LE(0x36);
    const phnum = h.readUInt16LE(0x38);
    if (phentsize < 56 || phnum > 256) return undefined;
    const ph = Buffer.alloc(phentsize * phnum);
    await fh.read(ph, 0, ph.length, phoff);
    const PT_INTERP = 3;
    let interp = false;
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === PT_INTERP) interp = true;
    return { arch: archOfElfMachine(h.readUInt16LE(18)), static: !interp };
  } catch {
    return undefined;
  } finally {
    await fh?.close();
  }
}

export interface BusyboxSearch {
  /** A busybox to use first (a setting). */
  readonly busybox?: string;
  /** kdap's cache: `<cache>/busybox/<arch>/bin/busybox` is where a foreign-arch busybox goes. */
  readonly cacheDir: string;
}

/** Where a static busybox for `arch` is looked for, in order. */
export function busyboxCandidates(arch: Arch, search: BusyboxSearch): string[] {
  const out = search.busybox ? [search.busybox] : [];
  out.push(path.join(search.cacheDir, 'busybox', arch, 'bin', 'busybox'), '/bin/busybox', '/usr/bin/busybox', '/sbin/busybox');
  return out;
}

/** The first candidate that is a static busybox for `arch`, with why each other one was passed over. */
export async function findBusybox(arch: Arch, search: BusyboxSearch): Promise<{ path?: string; passed: string[] }> {
  const passed: string[] = [];
  for (const candidate of busyboxCandidates(arch, search)) {
    const info = await elfExecutableInfo(candidate);
    if (!info) {
      passed.push(`${candidate} (${(await exists(candidate)) ? 'not an ELF executable' : 'absent'})`);
      continue;
    }
    if (info.arch !== arch) passed.push(`${candidate} (built for ${info.arch ?? 'another arch'})`);
    else if (!info.static) passed.push(`${candidate} (dynamically linked)`);
    else return { path: candidate, passed };
  }
  return { passed };
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(() => true, () => false);
}

/**
 * busybox is /init and runs as init: every step is a command line, run directly or via sh.
 * cttyhack gives the shell the console as its controlling tty, so Ctrl-C works.
 */
export const inittab = [
  '::sysinit:/bin/busybox --install -s',
  '::sysinit:/bin/busybox mount -t proc proc /proc',
  '::sysinit:/bin/busybox mount -t sysfs sysfs /sys',
  '::sysinit:/bin/busybox mount -t devtmpfs devtmpfs /dev',
  '::sysinit:/bin/busybox mount -t tmpfs tmpfs /tmp',
  "::sysinit:/bin/busybox echo 'kdap: minimal initramfs (busybox); poweroff -f ends the session'",
  '::respawn:/bin/busybox cttyhack /bin/sh -l',
  '::ctrlaltdel:/bin/busybox reboot -f',
  '',
].join('\n');

/** The archive's entries around a busybox binary. */
export function minimalEntries(busybox: Uint8Array): CpioEntry[] {
  const dirs = ['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root', 'lib', 'lib/modules'];
  return [
    ...dirs.map((name): CpioEntry => ({ name, type: 'dir' })),
    { name: 'dev/console', type: 'char', major: 5, minor: 1 },
    { name: 'dev/null', type: 'char', major: 1, minor: 3, mode: 0o666 },
    { name: 'bin/busybox', type: 'file', data: busybox },
    { name: 'bin/sh', type: 'symlink', target: 'busybox' },
    { name: 'init', type: 'symlink', target: 'bin/busybox' },
    { name: 'etc/inittab', type: 'file', mode: 0o644, data: Buffer.from(inittab) },
  ];
}

/** Bump when the layout above changes, so cached archives are rebuilt. */
const LAYOUT = 1;

export type InitramfsResult =
  | { path: string; busybox: string; cached: boolean }
  | { missing: string };

export function defaultCacheDir(): string {
  return process.env.KDAP_CACHE || path.join(os.homedir(), '.cache', 'kdap');
}

/**
 * The minimal initramfs for `arch`: `<cache>/initramfs/minimal-<arch>-<hash>.cpio`, built on
 * first use. `missing` explains what to do when no static busybox for the arch is found.
 */
export async function minimalInitramfs(arch: Arch, search: BusyboxSearch = { cacheDir: defaultCacheDir() }): Promise<InitramfsResult> {
  const found = await findBusybox(arch, search);
  if (!found.path) return { missing: noBusyboxMessage(arch, search, found.passed) };
  const busybox = await fs.readFile(found.path);
  const entries = minimalEntries(busybox);
  const key = createHash('sha256').update(`kdap-initramfs ${LAYOUT} ${arch}\n`);
  for (const e of entries) key.update(`${e.name} ${e.type} ${e.mode ?? ''} ${e.target ?? ''} ${e.major ?? ''}:${e.minor ?? ''}\n`).update(e.data ?? new Uint8Array());
  const dir = path.join(search.cacheDir, 'initramfs');
  const out = path.join(dir, `minimal-${arch}-${key.digest('hex').slice(0, 16)}.cpio`);
  if (await exists(out)) return { path: out, busybox: found.path, cached: true };
  await fs.mkdir(dir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  await fs.writeFile(tmp, cpioNewc(entries));
  await fs.rename(tmp, out);
  return { path: out, busybox: found.path, cached: false };
}

export function noBusyboxMessage(arch: Arch, search: BusyboxSearch, passed: readonly string[]): string {
  const place = path.join(search.cacheDir, 'busybox', arch, 'bin', 'busybox');
  const { debianArch: debArch, nodeArch } = bootFacts(arch);
  const how = os.arch() === nodeArch
    ? `install one (Debian/Ubuntu: sudo apt-get install busybox-static)`
    : `put a static ${arch} busybox at ${place} (Debian/Ubuntu: apt-get download busybox-static:${debArch} && dpkg-deb -x busybox-static_*_${debArch}.deb bb && cp bb/bin/busybox ${place})`;
  return (
    `No "initrd" given and no static busybox for ${arch} to make one (looked at ${passed.join(', ')}). ` +
    `Without an initramfs the kernel boots and stops at "No working init found". ` +
    `Set "initrd" to an initramfs, or ${how}.`
  );
}
