/**
 * Builds kdap's packages with scripts/package.mjs into a temporary folder and reads them with
 * the system's own tools (unzip, tar, readelf), not with the libraries that wrote them.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const repoRoot = path.resolve(__dirname, '..', '..', '..', '..');
export const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
  version: string;
  [key: string]: unknown;
};

export interface Built {
  out: string;
  log: string;
  vsix(target: string): string;
  remove(): void;
}

/** Runs `node scripts/package.mjs --out TMP TARGET...`; throws with its output when it fails. */
export function buildPackages(targets: readonly string[]): Built {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-packages-'));
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'package.mjs'), '--out', out, ...targets], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 180_000,
  });
  if (r.status !== 0) throw new Error(`scripts/package.mjs failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return {
    out,
    log: r.stdout,
    vsix: (target) => path.join(out, target === 'universal' ? 'kdap.vsix' : `kdap-${target}.vsix`),
    remove: () => fs.rmSync(out, { recursive: true, force: true }),
  };
}

function run(cmd: string, args: readonly string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, input });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.error?.message}): ${r.stderr}`);
  return r.stdout;
}

/** The entry names of a zip (a vsix), as Info-ZIP lists them. */
export function zipEntries(file: string): string[] {
  return run('unzip', ['-Z1', file]).split('\n').filter(Boolean).sort();
}

export function zipText(file: string, entry: string): string {
  return run('unzip', ['-p', file, entry]);
}

/** Unpacks a vsix into `dir`; returns the extension folder (what VS Code installs). */
export function unpackVsix(file: string, dir: string): string {
  run('unzip', ['-q', '-o', file, '-d', dir]);
  return path.join(dir, 'extension');
}

export function tarEntries(file: string): string[] {
  return run('tar', ['-tzf', file]).split('\n').filter(Boolean).sort();
}

/** readelf's view of a binary: its machine and the shared libraries it needs. */
export function elfInfo(file: string): { machine: string; needed: string[] } {
  const header = run('readelf', ['-h', file]);
  const machine = /^\s*Machine:\s*(.+)$/m.exec(header)?.[1].trim() ?? '?';
  const dynamic = run('readelf', ['-d', file]);
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  return { machine, needed };
}

/** The VS Code target of this machine, as a user's VS Code would ask the Marketplace for it. */
export function hostTarget(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const alpine = fs.existsSync('/etc/alpine-release');
  const arch = { x64: 'x64', arm64: 'arm64', arm: 'armhf' }[process.arch as string];
  if (!arch) return undefined;
  return `${alpine ? 'alpine' : 'linux'}-${arch}`;
}
