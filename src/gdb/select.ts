/**
 * Chooses the gdb binary: the configured one, else an arch-prefixed cross gdb, else
 * gdb-multiarch, else a plain gdb that knows the target architecture.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GdbNotFound } from './errors';

/** What choosing a gdb needs to know of the target's architecture. */
export interface GdbArch {
  /** As users name it, for messages: `arm64`. */
  readonly name: string;
  /** gdb's `set architecture` name: `aarch64`. */
  readonly architecture: string;
  /** Cross gdbs to try before gdb-multiarch: `aarch64-linux-gnu-gdb`. */
  readonly crossGdbs: readonly string[];
}

/** Finds an executable on PATH without a shell. */
export function which(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** True if this gdb can debug the architecture (a host-only gdb cannot set aarch64). */
function gdbSupports(gdb: string, arch: GdbArch): boolean {
  const r = spawnSync(gdb, ['-nx', '-batch', '-ex', `set architecture ${arch.architecture}`], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  return r.status === 0 && !/Undefined item|not recognized|Undefined set architecture/i.test(`${r.stdout}${r.stderr}`);
}

export function selectGdb(arch: GdbArch, configured?: string): string {
  if (configured) {
    const found = which(configured);
    if (!found) throw new GdbNotFound(`gdbPath '${configured}' is not an executable file.`);
    return found;
  }
  for (const name of arch.crossGdbs) {
    const found = which(name);
    if (found) return found;
  }
  const multi = which('gdb-multiarch');
  if (multi) return multi;
  const plain = which('gdb');
  if (plain && gdbSupports(plain, arch)) return plain;
  const hint = process.platform === 'linux' ? ' Install it with: sudo apt-get install gdb-multiarch' : '';
  throw new GdbNotFound(
    `No gdb for ${arch.name} found: tried ${[...arch.crossGdbs, 'gdb-multiarch', 'gdb'].join(', ')}.${hint} ` +
      `Or set "gdbPath" in the launch configuration.`,
  );
}
