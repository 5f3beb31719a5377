/**
 * Maps the file names gdb reports to files on this machine. Kernel DWARF is messy: C units
 * carry a relative compile dir (Debian: `debian/build/build_amd64_none_cloud-amd64/init/main.c`),
 * assembly units an absolute build path (`/build/reproducible-path/linux-6.1.176/...`).
 * We apply the user's maps, then look for the longest path suffix that exists under the
 * source root, and remember which prefix worked so the next file costs one stat.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A source path rewrite (gdb `set substitute-path`). */
export interface PathMap {
  from: string;
  to: string;
}

export class SourceMapper {
  private readonly learned = new Map<string, string>();
  private readonly cache = new Map<string, string | undefined>();

  constructor(private readonly sourceRoot: string | undefined, private readonly maps: readonly PathMap[] = []) {}

  resolve(reported: string | undefined): string | undefined {
    if (!reported) return undefined;
    if (this.cache.has(reported)) return this.cache.get(reported);
    const found = this.lookup(reported);
    this.cache.set(reported, found);
    return found;
  }

  private lookup(reported: string): string | undefined {
    for (const map of this.maps) {
      if (reported.startsWith(map.from)) {
        const candidate = path.join(map.to, reported.slice(map.from.length));
        if (exists(candidate)) return candidate;
      }
    }
    if (path.isAbsolute(reported) && exists(reported)) return reported;
    if (!this.sourceRoot) return path.isAbsolute(reported) ? reported : undefined;
    const parts = reported.split('/').filter((p) => p !== '' && p !== '.');
    for (const [prefix, root] of this.learned) {
      if (reported.startsWith(prefix)) {
        const candidate = path.join(root, reported.slice(prefix.length));
        if (exists(candidate)) return candidate;
      }
    }
    for (let skip = 0; skip < Math.max(1, parts.length - 1); skip++) {
      const candidate = path.join(this.sourceRoot, ...parts.slice(skip));
      if (exists(candidate)) {
        const prefix = (reported.startsWith('/') ? '/' : '') + parts.slice(0, skip).join('/') + (skip ? '/' : '');
        if (skip > 0) this.learned.set(prefix, this.sourceRoot);
        return candidate;
      }
    }
    return undefined;
  }
}

function exists(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
