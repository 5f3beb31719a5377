/**
 * Finding the file with a loaded module's symbols. Where kernel developers keep them, in the
 * order searched:
 * - the session's `modulePaths` (out-of-tree module folders, a build tree), recursively;
 * - the vmlinux's own folder when it is a kernel build tree (`O=`: it holds modules.order);
 * - /lib/modules/RELEASE/{updates,extra,kernel,build} (distribution and `make modules_install`);
 * - /usr/lib/debug/lib/modules/RELEASE (distribution -dbg/-debuginfo packages);
 * - `.build-id/xx/yyyy.debug` trees under /usr/lib/debug and each modulePaths folder, found
 *   straight from the loaded module's build id.
 *
 * A name matches with `-` and `_` the same (the kernel turns `-` into `_`), as NAME.ko,
 * NAME.ko.debug, or compressed NAME.ko.xz / .ko.zst / .ko.gz, which are unpacked into a cache
 * folder (gdb and ld need a plain ELF). Among several files of one name, one whose build id is
 * the loaded module's wins, then one with DWARF, then the earlier folder. Differences between
 * the file and the loaded module (build id, srcversion, sections that do not fit) come back as
 * warnings for the user, since loading wrong symbols is worse than loading none.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { ElfFile, SHT_NOBITS } from '../oops/elf';
import { bestEffort, ignore } from './errors';

export interface ModuleFileOptions {
  /** Folders from the configuration, searched first and recursively. */
  modulePaths?: readonly string[];
  /** `uname -r` of the target: adds the /lib/modules and /usr/lib/debug folders of that release. */
  release?: string;
  /** The session's vmlinux: its folder is searched when it is a kernel build tree. */
  vmlinux?: string;
  /** Where compressed modules are unpacked. */
  cacheDir: string;
  /** Prefix of the system folders (/lib/modules, /usr/lib/debug), for tests. Default "/". */
  systemRoot?: string;
}

/** What is known about the loaded module, to pick and check a file. */
export interface LoadedModuleFacts {
  name: string;
  buildId?: string;
  srcversion?: string;
  /** Live section addresses, to check that the file's sections fit between them. */
  sections?: ReadonlyMap<string, bigint>;
}

export interface ModuleFile {
  /** The file as found (possibly compressed). */
  path: string;
  /** A plain ELF with the same content: `path` itself, or its unpacked copy in the cache. */
  elf: string;
  buildId?: string;
  /** It has DWARF (`.debug_info`); without it gdb gets function names but no lines. */
  debugInfo: boolean;
  /** Its SHF_ALLOC sections, name → size: what gets an address when it is loaded. */
  sections: ReadonlyMap<string, bigint>;
  /** Ways in which it differs from the loaded module, in words for the user. */
  warnings: string[];
}

const MODULE_FILE = /^(.+?)\.ko(?:\.debug)?(?:\.(xz|zst|gz))?$/;
const SKIP_DIRS = new Set(['.git', '.build-id', 'source', 'Documentation', 'scripts', 'include', 'tools', '.tmp_versions']);
const MAX_DEPTH = 16;
const SHF_ALLOC = 2n;

/** `brd.ko.xz` → `brd`, `nf-nat.ko` → `nf_nat`; undefined for anything that is not a module file. */
export function moduleFileName(file: string): string | undefined {
  const m = MODULE_FILE.exec(path.basename(file));
  return m ? m[1].replace(/-/g, '_') : undefined;
}

export class ModuleFiles {
  private index: Promise<Map<string, string[]>> | undefined;
  private readonly described = new Map<string, Promise<Omit<ModuleFile, 'warnings'> | undefined>>();

  constructor(private readonly options: ModuleFileOptions) {}

  /** The folders searched by name, in order (those that exist are scanned). */
  folders(): string[] {
    const o = this.options;
    const sys = (p: string) => path.join(o.systemRoot ?? '/', p);
    const out = [...(o.modulePaths ?? [])];
    if (o.vmlinux) {
      const dir = path.dirname(path.resolve(o.vmlinux));
      if (fs.existsSync(path.join(dir, 'modules.order')) || fs.existsSync(path.join(dir, 'Module.symvers'))) out.push(dir);
    }
    if (o.release) {
      for (const sub of ['updates', 'extra', 'kernel', 'build']) out.push(sys(path.join('lib/modules', o.release, sub)));
      out.push(sys(path.join('usr/lib/debug/lib/modules', o.release)));
    }
    return [...new Set(out.map((p) => path.resolve(p)))];
  }

  /** Roots of `.build-id` trees. */
  buildIdRoots(): string[] {
    const sys = path.join(this.options.systemRoot ?? '/', 'usr/lib/debug');
    return [...new Set([...(this.options.modulePaths ?? []), sys].map((p) => path.join(path.resolve(p), '.build-id')))];
  }

  /** Forgets the folder index, e.g. after the user rebuilt a module. */
  rescan(): void {
    this.index = undefined;
    this.described.clear();
  }

  /** Every file found for a module name, in search order. */
  async candidates(name: string): Promise<string[]> {
    return (await this.scan()).get(name.replace(/-/g, '_')) ?? [];
  }

  /** The best file for a loaded module, or undefined when there is none anywhere. */
  async find(facts: LoadedModuleFacts): Promise<ModuleFile | undefined> {
    const byBuildId = facts.buildId ? await this.byBuildId(facts.buildId) : undefined;
    const described: Array<Omit<ModuleFile, 'warnings'>> = [];
    if (byBuildId) described.push(byBuildId);
    for (const file of await this.candidates(facts.name)) {
      const d = await this.describe(file);
      if (d && !described.some((x) => x.path === d.path)) described.push(d);
    }
    if (described.length === 0) return undefined;
    // Stable sort: build-id match, then DWARF, then search order.
    const rank = (d: Omit<ModuleFile, 'warnings'>) => (facts.buildId && d.buildId === facts.buildId ? 0 : 2) + (d.debugInfo ? 0 : 1);
    const best = [...described].sort((a, b) => rank(a) - rank(b))[0];
    const file: ModuleFile = { ...best, warnings: [] };
    file.warnings.push(...(await this.differences(file, facts)));
    return file;
  }

  /**
   * A file the user chose for a loaded module, described and compared with it like a found one.
   * Throws, in words for the user, when it cannot be symbols at all (missing, unreadable, not
   * ELF); a file of another module or build comes back with warnings, since the user decides.
   */
  async open(file: string, facts: LoadedModuleFacts): Promise<ModuleFile> {
    const st = await fsp.stat(file).catch((e: NodeJS.ErrnoException) => {
      throw new Error(e.code === 'ENOENT' ? `${file} does not exist` : `cannot read ${file}: ${e.message}`);
    });
    if (!st.isFile()) throw new Error(`${file} is not a file`);
    await fsp.access(file, fs.constants.R_OK).catch((e: Error) => {
      throw new Error(`cannot read ${file}: ${e.message}`);
    });
    const elf = await unpacked(file, this.options.cacheDir);
    // Not through describe(): its cache would keep a failure, and here the reason matters.
    const f = await ElfFile.open(elf).catch((e: Error) => {
      throw new Error(/not an ELF/.test(e.message) ? `${path.basename(file)} is not an ELF file (a module .ko or .ko.debug)` : e.message);
    });
    await f.close();
    this.described.delete(file);
    const d = await this.describe(file);
    if (!d) throw new Error(`${path.basename(file)} could not be read as ELF`);
    if (d.sections.size === 0) throw new Error(`${path.basename(file)} has no sections that load: it is not a module`);
    const warnings: string[] = [];
    // Found files match by name already; a picked one may be any module. Its .modinfo names it
    // (a split .ko.debug may only have its file name).
    const fileModule = (await bestEffort(modinfo(d.elf, 'name'), 'reading modinfo name')) ?? moduleFileName(file);
    if (fileModule && fileModule.replace(/-/g, '_') !== facts.name.replace(/-/g, '_')) warnings.push(`${path.basename(file)} is the module ${fileModule}, not ${facts.name}`);
    warnings.push(...(await this.differences({ ...d, warnings: [] }, facts)));
    return { ...d, warnings };
  }

  private async byBuildId(buildId: string): Promise<Omit<ModuleFile, 'warnings'> | undefined> {
    if (!/^[0-9a-f]{4,}$/.test(buildId)) return undefined;
    for (const root of this.buildIdRoots()) {
      for (const suffix of ['.debug', '']) {
        const file = path.join(root, buildId.slice(0, 2), buildId.slice(2) + suffix);
        if (!fs.existsSync(file)) continue;
        const d = await this.describe(file);
        if (d) return d;
      }
    }
    return undefined;
  }

  /** Reads a file's build id, DWARF presence and sections (unpacking it first if compressed). */
  private describe(file: string): Promise<Omit<ModuleFile, 'warnings'> | undefined> {
    let d = this.described.get(file);
    if (!d) {
      d = (async () => {
        let elf: string;
        try {
          elf = await unpacked(file, this.options.cacheDir);
        } catch (err) {
          ignore(err, `unpacking ${file}`);
          return undefined; // an unreadable or corrupt file is as good as none
        }
        let f: ElfFile;
        try {
          f = await ElfFile.open(elf);
        } catch (err) {
          ignore(err, `reading ${elf}`);
          return undefined;
        }
        try {
          const sections = new Map<string, bigint>();
          for (const s of f.sections) if ((s.flags & SHF_ALLOC) !== 0n && s.name && !sections.has(s.name)) sections.set(s.name, s.size);
          const info = f.section('.debug_info');
          const buildId = await f.buildId();
          return {
            path: file,
            elf,
            ...(buildId ? { buildId } : {}),
            debugInfo: !!info && info.size > 0n && info.type !== SHT_NOBITS,
            sections,
          };
        } finally {
          await f.close();
        }
      })();
      this.described.set(file, d);
    }
    return d;
  }

  private async differences(file: ModuleFile, facts: LoadedModuleFacts): Promise<string[]> {
    const out: string[] = [];
    const name = path.basename(file.path);
    if (facts.buildId && file.buildId && facts.buildId !== file.buildId) {
      out.push(`${name} has build id ${file.buildId}, the loaded ${facts.name} has ${facts.buildId}: it is another build`);
    }
    if (facts.srcversion) {
      const srcversion = await bestEffort(modinfo(file.elf, 'srcversion'), 'reading modinfo srcversion');
      if (srcversion && srcversion !== facts.srcversion) out.push(`${name} has srcversion ${srcversion}, the loaded ${facts.name} has ${facts.srcversion}`);
    }
    if (facts.sections) out.push(...sectionFit(file, facts.sections, name));
    if (!file.debugInfo) out.push(`${name} has no debug info (DWARF): functions get names but no source lines`);
    return out;
  }

  private scan(): Promise<Map<string, string[]>> {
    this.index ??= (async () => {
      const index = new Map<string, string[]>();
      const seen = new Set<string>();
      for (const folder of this.folders()) await walkFolder(folder, 0, seen, index);
      return index;
    })();
    return this.index;
  }
}

async function walkFolder(dir: string, depth: number, seen: Set<string>, index: Map<string, string[]>): Promise<void> {
  if (depth > MAX_DEPTH) return;
  let real: string;
  try {
    real = await fsp.realpath(dir);
  } catch (err) {
    ignore(err, `scanning ${dir}`);
    return;
  }
  if (seen.has(real)) return;
  seen.add(real);
  let entries: fs.Dirent[];
  try {
    entries = await fsp.readdir(real, { withFileTypes: true });
  } catch (err) {
    ignore(err, `scanning ${real}`);
    return;
  }
  entries.sort((a, b) => a.name.localeCompare(b.name));
  const subdirs: string[] = [];
  for (const e of entries) {
    const full = path.join(dir, e.name);
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      const st = await bestEffort(fsp.stat(full), 'stat while scanning module folders');
      isDir = !!st?.isDirectory();
      isFile = !!st?.isFile();
    }
    if (isDir) {
      if (!SKIP_DIRS.has(e.name)) subdirs.push(full);
    } else if (isFile) {
      const name = moduleFileName(e.name);
      if (!name) continue;
      const list = index.get(name) ?? [];
      list.push(full);
      index.set(name, list);
    }
  }
  for (const sub of subdirs) await walkFolder(sub, depth + 1, seen, index);
}

/** A compressed module unpacked into the cache (once per file version); a plain one as is. */
export async function unpacked(file: string, cacheDir: string): Promise<string> {
  const m = /\.(xz|zst|gz)$/.exec(file);
  if (!m) return file;
  const st = await fsp.stat(file);
  const key = createHash('sha256').update(`${path.resolve(file)}\0${st.size}\0${st.mtimeMs}`).digest('hex').slice(0, 16);
  const dir = path.join(cacheDir, 'unpacked', key);
  const out = path.join(dir, path.basename(file, `.${m[1]}`));
  if (fs.existsSync(out)) return out;
  await fsp.mkdir(dir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    if (m[1] === 'gz') await fsp.writeFile(tmp, zlib.gunzipSync(await fsp.readFile(file)));
    else await decompressTo(m[1] === 'xz' ? 'xz' : 'zstd', file, tmp);
    await fsp.rename(tmp, out);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  return out;
}

function decompressTo(program: string, file: string, out: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const sink = fs.createWriteStream(out);
    const child = spawn(program, ['-d', '-c', '--', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr = (stderr + t).slice(-500)));
    child.stdout.pipe(sink);
    child.on('error', (e) => reject(new Error(`${program} is needed to unpack ${path.basename(file)}: ${e.message}`)));
    child.on('close', (code) => {
      sink.end(() => (code === 0 ? resolve() : reject(new Error(`${program} could not unpack ${file}: ${stderr.trim() || `exit ${code}`}`))));
    });
  });
}

/** A value from the module's `.modinfo` (NUL-separated `key=value` strings). */
export async function modinfo(elf: string, key: string): Promise<string | undefined> {
  const f = await ElfFile.open(elf);
  try {
    const s = f.section('.modinfo');
    if (!s) return undefined;
    for (const entry of (await f.readSection(s)).toString('utf8').split('\0')) {
      if (entry.startsWith(`${key}=`)) return entry.slice(key.length + 1);
    }
    return undefined;
  } finally {
    await f.close();
  }
}

/**
 * Sections of another build rarely keep their sizes: a file section larger than the gap the
 * kernel left for it (up to the next loaded section) cannot be the loaded code.
 */
export function sectionFit(file: Pick<ModuleFile, 'sections'>, loaded: ReadonlyMap<string, bigint>, label: string): string[] {
  const out: string[] = [];
  const placed = [...loaded].sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  // The kernel lays out its own copy of .symtab and .strtab (layout_symtab), not the file's.
  const missing = placed.filter(([name]) => !file.sections.has(name) && name !== '.symtab' && name !== '.strtab').map(([name]) => name);
  if (missing.length > 0) out.push(`${label} lacks section${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of the loaded module`);
  for (let i = 0; i < placed.length - 1; i++) {
    const [name, at] = placed[i];
    const gap = placed.slice(i + 1).find(([, next]) => next > at)?.[1];
    const size = file.sections.get(name);
    if (gap === undefined || size === undefined) continue;
    if (size > gap - at) out.push(`${label}: ${name} is 0x${size.toString(16)} bytes, but the loaded module has only 0x${(gap - at).toString(16)} before its next section`);
  }
  return out;
}
