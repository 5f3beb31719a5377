/**
 * What the dump e2e tests share: the fixtures scripts/fixtures-dumps.sh made (with the truths
 * the guests printed), and debug info for a DumpTarget from gdb over the vmlinux with no target
 * connected, the way the live session gets symbols and layouts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GdbBackend } from '../../src/gdb/backend';
import * as data from '../../src/gdb/mi/data';
import { parseAddress, parsePtype } from '../../src/engine/live-target';
import type { DebugInfo } from '../../src/dump/target';
import type { StructLayout } from '../../src/kernel/target';
import { fixturesCacheDir, type FixtureArch } from '../support/fixtures';

export interface Truths {
  arch: FixtureArch;
  mode: 'qemu' | 'kdump';
  uname: string;
  banner: string;
  tasks: Array<{ pid: number; comm: string; state: string; ppid: number; cpu: number; stack: string[] }>;
  modules: string[];
  sections: Record<string, string>;
  dmesg: string[];
  gva2gpa?: Record<string, { va: string; pa: string | null }>;
  registers?: Array<{ cpu: number; pc: string | null; sp: string | null }>;
  dumps?: Record<string, { file: string; bytes: number; seconds: number }>;
  panicConsole?: string[];
}

export interface DumpFixture {
  dir: string;
  truths: Truths;
  /** name → path, for every dump file of the scenario. */
  files: Record<string, string>;
  /** crash 8.0.2's `log` of one of the dumps, when crash could read it. */
  crashLog?: string;
}

export function dumpsDir(): string {
  return path.join(fixturesCacheDir(), 'dumps');
}

/** The dumps of one scenario, or why they are missing. */
export function dumpFixture(arch: FixtureArch, scenario: 'qemu' | 'kdump'): DumpFixture | { missing: string } {
  const dir = path.join(dumpsDir(), arch, scenario);
  const truthsFile = path.join(dir, 'truths.json');
  if (!fs.existsSync(path.join(dir, '.stamp')) || !fs.existsSync(truthsFile)) {
    return { missing: `${dir} is not built: run flock /tmp/kdap-qemu.lock bash scripts/fixtures-dumps.sh` };
  }
  const files: Record<string, string> = {};
  for (const f of fs.readdirSync(dir)) {
    if (/\.(elf|kdump|flat)$/.test(f)) files[f.replace(/\.(elf|kdump|flat)$/, (_, ext) => (ext === 'flat' ? '.flat' : ''))] = path.join(dir, f);
  }
  const crash = path.join(dir, 'crash-log.txt');
  return { dir, truths: JSON.parse(fs.readFileSync(truthsFile, 'utf8')) as Truths, files, crashLog: fs.existsSync(crash) ? fs.readFileSync(crash, 'utf8') : undefined };
}

/** Symbols and struct layouts from gdb reading vmlinux alone, at link-time addresses. */
export class GdbDebugInfo implements DebugInfo {
  private readonly symbols = new Map<string, Promise<bigint | undefined>>();
  private readonly layouts = new Map<string, Promise<StructLayout | undefined>>();

  private constructor(private readonly gdb: GdbBackend) {}

  static async open(vmlinux: string, arch: FixtureArch): Promise<GdbDebugInfo> {
    const cache = path.join(fixturesCacheDir(), 'gdb-index');
    fs.mkdirSync(cache, { recursive: true });
    const gdb = new GdbBackend({
      gdbPath: 'gdb-multiarch',
      args: ['-iex', `set index-cache directory ${cache}`, '-iex', 'set index-cache enabled on', '-iex', 'set pagination off', '-iex', 'set confirm off', '-iex', 'set width 0', '-iex', 'set style enabled off'],
      timeoutMs: 300_000,
    });
    await gdb.start();
    try {
      await gdb.send('-gdb-set', ['architecture', arch === 'arm64' ? 'aarch64' : 'i386:x86-64']);
      await gdb.send('-file-exec-and-symbols', [vmlinux], 300_000);
    } catch (e) {
      await gdb.stop();
      throw e;
    }
    return new GdbDebugInfo(gdb);
  }

  symbol(name: string): Promise<bigint | undefined> {
    let p = this.symbols.get(name);
    if (!p) {
      p = data.evaluate(this.gdb, `&${name}`).then(parseAddress, () => undefined);
      this.symbols.set(name, p);
    }
    return p;
  }

  layout(structName: string): Promise<StructLayout | undefined> {
    const name = structName.replace(/^struct\s+/, '');
    let p = this.layouts.get(name);
    if (!p) {
      p = this.gdb.console(`ptype/o struct ${name}`, 120_000).then((t) => parsePtype(t, name), () => undefined);
      this.layouts.set(name, p);
    }
    return p;
  }

  close(): Promise<void> {
    return this.gdb.stop();
  }
}

/**
 * The guest's dmesg lines end at its last one in kdap's log, in order. A line the console
 * garbled (a kernel message printed into the middle of it: two timestamps) is left out of the
 * comparison, and so is the line it replaced.
 */
export function assertTail(ours: string[], theirs: string[], what: string): number {
  const clean = theirs.filter((l) => (l.match(/\[\s*\d+\.\d{6}\]/g) ?? []).length === 1 && /^\[\s*\d+\.\d{6}\] /.test(l));
  const last = clean[clean.length - 1];
  const at = ours.lastIndexOf(last);
  assert.ok(at >= 0, `${what}: the guest's last dmesg line is not in kdap's log: ${last}`);
  const window = ours.slice(Math.max(0, at - theirs.length - 1), at + 1);
  let i = 0;
  for (const line of window) if (line === clean[i]) i++;
  assert.equal(i, clean.length, `${what}: the guest's lines, in order, end kdap's log; missing from ${clean[i]}`);
  assert.ok(clean.length >= theirs.length - 2, `${what}: at most one garbled line in the guest's dmesg`);
  return at;
}
