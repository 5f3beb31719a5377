/**
 * From the source paths a kernel's DWARF or log records to files on this machine.
 *
 * Distribution kernels record paths that exist only on their build machine, and usually two
 * kinds at once. Debian 6.1, for example: C files relative to a relative `DW_AT_comp_dir`
 * (`debian/build/build_amd64_none_cloud-amd64/fs/proc/inode.c`), assembler files absolute
 * (`/build/reproducible-path/linux-6.1.176/arch/x86/entry/entry_64.S`). Both must land in the
 * user's tree. The rules, in order:
 *
 * 1. explicit mappings (`from` → `to`, longest `from` first), like gdb's substitute-path;
 * 2. an absolute path that exists is itself;
 * 3. with a source root: the shortest trailing part of the path (two components at least,
 *    unless the whole path is one) that exists under the root. The part cut off is learned as a
 *    mapping, so every later path from the same build directory costs one `stat`.
 *
 * What the user sees (`display`) is the path relative to the source root when the file is in
 * it, `fs/proc/inode.c` as faddr2line prints it; otherwise the recorded path with any known
 * build prefix stripped.
 *
 * Paths that come from a log's text (a `WARNING: … at file.c:123`, decoded frames) are never
 * opened outside the configured roots: `fromLog` returns only files inside one of them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface PathMapping {
  from: string;
  to: string;
}

export interface SourcePathOptions {
  /** The kernel source tree (`kdap.sourceRoot`). */
  sourceRoot?: string;
  mappings?: readonly PathMapping[];
  /** Other folders whose files a log may name (workspace folders, module source folders). */
  roots?: readonly string[];
}

export interface MappedPath {
  /** For people: relative to the source root when inside it, else the recorded path. */
  display: string;
  /** The file on this machine, when found. */
  path: string | undefined;
}

const MAX_PATH = 4096;
const MAX_COMPONENTS = 24;

function trimSlash(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}

/** `p` equals `prefix` or continues it after a slash. */
function startsWithDir(p: string, prefix: string): boolean {
  if (prefix === '' || prefix === '/') return prefix === '/' ? p.startsWith('/') : true;
  return p === prefix || (p.startsWith(prefix) && p[prefix.length] === '/');
}

export class SourcePaths {
  readonly sourceRoot: string | undefined;
  private readonly mappings: PathMapping[];
  /** Prefixes cut off for display only (faddr2line's "everything before init/main.c"). */
  private readonly stripPrefixes: string[] = [];
  private readonly roots: string[];
  private readonly files = new Map<string, boolean>();
  private readonly mapped = new Map<string, MappedPath>();

  constructor(options: SourcePathOptions = {}) {
    this.sourceRoot = options.sourceRoot ? trimSlash(path.resolve(options.sourceRoot)) : undefined;
    this.mappings = (options.mappings ?? []).map((m) => ({ from: trimSlash(m.from), to: trimSlash(path.resolve(m.to)) }));
    this.sortMappings();
    const roots = [this.sourceRoot, ...this.mappings.map((m) => m.to), ...(options.roots ?? []).map((r) => trimSlash(path.resolve(r)))];
    this.roots = [...new Set(roots.filter((r): r is string => r !== undefined && r !== ''))];
  }

  private sortMappings(): void {
    this.mappings.sort((a, b) => b.from.length - a.from.length);
  }

  /** The folders log paths may point into. */
  get allowedRoots(): readonly string[] {
    return this.roots;
  }

  /**
   * A build-directory prefix to strip for display, e.g. the directory in front of
   * `init/main.c` in `start_kernel`'s recorded path. With a source root it also maps there.
   */
  learnBuildPrefix(prefix: string): void {
    const p = trimSlash(prefix);
    if (p === '' || this.stripPrefixes.includes(p)) return;
    this.stripPrefixes.push(p);
    this.stripPrefixes.sort((a, b) => b.length - a.length);
    if (this.sourceRoot && !this.mappings.some((m) => m.from === p)) {
      this.mappings.push({ from: p, to: this.sourceRoot });
      this.sortMappings();
      this.mapped.clear();
    }
  }

  private isFile(p: string): boolean {
    let known = this.files.get(p);
    if (known === undefined) {
      try {
        known = fs.statSync(p).isFile();
      } catch {
        known = false;
      }
      this.files.set(p, known);
    }
    return known;
  }

  /** A path recorded in DWARF (or printed by a tool that read it) → a local file. */
  map(recorded: string): MappedPath {
    const cached = this.mapped.get(recorded);
    if (cached) return cached;
    const result = this.mapUncached(recorded);
    this.mapped.set(recorded, result);
    return result;
  }

  private mapUncached(recorded: string): MappedPath {
    if (recorded === '' || recorded.length > MAX_PATH || recorded.includes('\0')) return { display: recorded, path: undefined };
    const p = path.posix.normalize(recorded);
    for (const m of this.mappings) {
      if (!startsWithDir(p, m.from)) continue;
      const candidate = path.join(m.to, p.slice(m.from.length));
      if (this.isFile(candidate)) return { display: this.display(candidate, p), path: candidate };
    }
    if (path.isAbsolute(p) && this.isFile(p)) return { display: this.display(p, p), path: p };
    const found = this.searchUnderRoot(p);
    if (found) return found;
    return { display: this.display(undefined, p), path: undefined };
  }

  /** Rule 3: the shortest trailing part of `p` that exists under the source root. */
  private searchUnderRoot(p: string): MappedPath | undefined {
    const root = this.sourceRoot;
    if (!root) return undefined;
    const parts = p.split('/').filter((s) => s !== '' && s !== '.');
    if (parts.includes('..') || parts.length === 0 || parts.length > MAX_COMPONENTS) return undefined;
    for (let i = 0; i < parts.length; i++) {
      if (i > 0 && parts.length - i < 2) break;
      const candidate = path.join(root, ...parts.slice(i));
      if (!this.isFile(candidate)) continue;
      if (i > 0) {
        const prefix = (path.isAbsolute(p) ? '/' : '') + parts.slice(0, i).join('/');
        if (!this.mappings.some((m) => m.from === prefix)) {
          this.mappings.push({ from: prefix, to: root });
          this.sortMappings();
        }
      }
      return { display: parts.slice(i).join('/'), path: candidate };
    }
    return undefined;
  }

  private display(local: string | undefined, recorded: string): string {
    const root = this.sourceRoot;
    if (local && root && startsWithDir(local, root)) return local.slice(root.length + 1);
    for (const prefix of this.stripPrefixes) if (startsWithDir(recorded, prefix) && recorded !== prefix) return recorded.slice(prefix.length + 1);
    for (const m of this.mappings) {
      if (m.to === root && startsWithDir(recorded, m.from) && recorded !== m.from) return recorded.slice(m.from.length + 1);
    }
    return recorded;
  }

  /** True when `p` (absolute, normalised) is inside an allowed root, symlinks resolved. */
  isInsideRoots(p: string): boolean {
    let real: string;
    try {
      real = fs.realpathSync(p);
    } catch {
      return false;
    }
    return this.roots.some((r) => {
      let realRoot = r;
      try {
        realRoot = fs.realpathSync(r);
      } catch {
        return false;
      }
      return startsWithDir(real, realRoot);
    });
  }

  /**
   * A path printed in a log → a file inside the allowed roots, or undefined. Relative paths
   * are tried under each root; absolute ones must already be inside one, or map into one.
   */
  fromLog(text: string): MappedPath | undefined {
    if (text === '' || text.length > MAX_PATH || text.includes('\0')) return undefined;
    const p = path.posix.normalize(text);
    if (!path.isAbsolute(p)) {
      if (p.startsWith('../') || p === '..') return undefined;
      for (const root of this.roots) {
        const candidate = path.join(root, p);
        if (this.isFile(candidate) && this.isInsideRoots(candidate)) return { display: this.display(candidate, p), path: candidate };
      }
    }
    const mapped = this.map(p);
    if (mapped.path && this.isInsideRoots(mapped.path)) return mapped;
    return undefined;
  }
}
