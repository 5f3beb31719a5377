/**
 * The `.ko` file behind a `[mod]` or `[mod <build-id>]` frame, searched the way
 * decode_stacktrace.sh does, plus build ids:
 *
 * - the configured module folders (`kdap.modulePaths`, `--module-path`), recursively;
 * - the folder of the vmlinux (a kernel build tree keeps its modules next to it);
 * - for the report's release: /usr/lib/debug/lib/modules/RELEASE and /lib/modules/RELEASE;
 * - with a build id: /usr/lib/debug/.build-id/xx/yyyy.debug.
 *
 * Names match with `-` and `_` the same (the kernel turns `-` into `_` in module names).
 * Among files of one name, one whose build id is the frame's wins, then one with DWARF
 * (a stripped runtime module next to its -dbg twin gives no lines), then the earlier folder.
 * Compressed modules (`.ko.xz` …) are not used: addr2line cannot read them.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ElfFile } from '../elf';

export interface ModuleLookupOptions {
  modulePaths?: readonly string[];
  vmlinux?: string;
  /** Prefix of /usr/lib/debug and /lib/modules, for tests. Default "/". */
  systemRoot?: string;
}

export interface ModuleCandidate {
  path: string;
  buildId: string | undefined;
  debugInfo: boolean;
}

const MODULE_FILE = /^(.+?)\.ko(?:\.debug)?$/;
const SKIP_DIRS = new Set(['.git', '.build-id', 'source', 'Documentation', 'scripts', 'include', 'tools', '.tmp_versions']);
const MAX_DEPTH = 16;
const MAX_ENTRIES = 500_000;
const RELEASE = /^[A-Za-z0-9._+~-]{1,128}$/;
const BUILD_ID = /^[0-9a-f]{8,64}$/;

/** `nf-nat.ko` → `nf_nat`; undefined for anything that is not an uncompressed module file. */
export function moduleNameOfFile(file: string): string | undefined {
  const m = MODULE_FILE.exec(path.basename(file));
  return m ? normaliseModuleName(m[1]) : undefined;
}

export function normaliseModuleName(name: string): string {
  return name.replace(/-/g, '_');
}

async function scan(folder: string, into: Map<string, string[]>): Promise<void> {
  let budget = MAX_ENTRIES;
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > MAX_DEPTH || budget <= 0) return;
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    budget -= entries.length;
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) await walk(p, depth + 1);
      } else if (e.isFile() || e.isSymbolicLink()) {
        const name = moduleNameOfFile(e.name);
        if (!name) continue;
        const list = into.get(name);
        if (list) list.push(p);
        else into.set(name, [p]);
      }
    }
  };
  await walk(folder, 0);
}

export class ModuleLocator {
  private readonly indexes = new Map<string, Promise<Map<string, string[]>>>();
  private readonly described = new Map<string, Promise<ModuleCandidate | undefined>>();

  constructor(private readonly options: ModuleLookupOptions) {}

  /** Folders searched for `release` (undefined: only the configured ones), in order. */
  folders(release?: string): string[] {
    const out = [...(this.options.modulePaths ?? [])];
    if (this.options.vmlinux) out.push(path.dirname(this.options.vmlinux));
    if (release && RELEASE.test(release)) {
      const root = this.options.systemRoot ?? '/';
      out.push(path.join(root, 'usr/lib/debug/lib/modules', release), path.join(root, 'lib/modules', release));
    }
    return [...new Set(out.map((f) => path.resolve(f)))];
  }

  private index(folder: string): Promise<Map<string, string[]>> {
    let idx = this.indexes.get(folder);
    if (!idx) {
      const map = new Map<string, string[]>();
      idx = scan(folder, map).then(() => map);
      this.indexes.set(folder, idx);
    }
    return idx;
  }

  private describe(file: string): Promise<ModuleCandidate | undefined> {
    let d = this.described.get(file);
    if (!d) {
      d = (async () => {
        let elf: ElfFile | undefined;
        try {
          elf = await ElfFile.open(file);
          const debugInfo = elf.sections.some((s) => s.name === '.debug_info' || s.name === '.zdebug_info');
          return { path: file, buildId: await elf.buildId(), debugInfo };
        } catch {
          return undefined;
        } finally {
          await elf?.close();
        }
      })();
      this.described.set(file, d);
    }
    return d;
  }

  /** Every file found for `name`, in search order. */
  async candidates(name: string, release?: string): Promise<string[]> {
    const key = normaliseModuleName(name);
    const out: string[] = [];
    for (const folder of this.folders(release)) {
      const files = (await this.index(folder)).get(key);
      if (files) out.push(...[...files].sort());
    }
    return [...new Set(out)];
  }

  /** The best file for a module, or undefined when none is readable. */
  async find(name: string, buildId?: string, release?: string): Promise<ModuleCandidate | undefined> {
    const files = await this.candidates(name, release);
    const id = buildId?.toLowerCase();
    if (id && BUILD_ID.test(id)) {
      const root = this.options.systemRoot ?? '/';
      files.push(path.join(root, 'usr/lib/debug/.build-id', id.slice(0, 2), `${id.slice(2)}.debug`));
    }
    const described = (await Promise.all(files.map((f) => this.describe(f)))).filter((c): c is ModuleCandidate => c !== undefined);
    if (id) {
      const exact = described.find((c) => c.buildId === id && c.debugInfo) ?? described.find((c) => c.buildId === id);
      if (exact) return exact;
    }
    return described.find((c) => c.debugInfo) ?? described[0];
  }
}
