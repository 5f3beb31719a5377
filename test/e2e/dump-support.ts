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
import type { PsRow } from '../../src/engine/task-report';
import { openDump } from '../../src/dump/dump';
import { DumpTarget, type DebugInfo } from '../../src/dump/target';
import { readStruct, structLayout } from '../../src/kernel/struct';
import type { StructLayout } from '../../src/kernel/target';
import { fixturesCacheDir, type FixtureArch } from '../support/fixtures';

export interface TruthTask {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  cpu: number;
  /** voluntary + involuntary context switches, read before the stat and the stack (absent in truths of older fixtures). */
  switches?: number;
  stack: string[];
}

export interface Truths {
  arch: FixtureArch;
  mode: 'qemu' | 'kdump';
  uname: string;
  banner: string;
  tasks: TruthTask[];
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

/**
 * Each task's context switches in the dump, `nvcsw + nivcsw` of the task_struct its row names:
 * a count still equal to the one the guest printed means the task has not run since.
 */
export async function switchCounts(file: string, debug: GdbDebugInfo, rows: ReadonlyArray<Pick<PsRow, 'pid' | 'task'>>): Promise<Map<number, number>> {
  const dump = openDump(file);
  try {
    const target = new DumpTarget(dump, { debugInfo: debug });
    const layout = await structLayout(target, 'task_struct');
    const out = new Map<number, number>();
    for (const row of rows) {
      const v = await readStruct(target, BigInt(row.task), layout, ['nvcsw', 'nivcsw']);
      out.set(row.pid, Number(v.unsigned('nvcsw') + v.unsigned('nivcsw')));
    }
    return out;
  } finally {
    dump.close();
  }
}

/** The guest's tasks as the dump has them, sorted by what may have changed since /proc showed them. */
export interface SinceProc {
  /**
   * Asleep in /proc (S, D, I), not run since (the same switch count, on no CPU): the dump has
   * /proc's state, CPU and stack, or, for a kernel thread woken and waiting on a run queue, R,
   * any CPU and the same stack.
   */
  still: TruthTask[];
  /** Of `still`, the kernel threads woken since. */
  woken: number[];
  /** Kernel threads asleep in /proc that ran since: their state, CPU and stack are not compared. */
  ranSince: number[];
  /** What no change since /proc explains. */
  wrong: string[];
}

/**
 * The truths' tasks against the dump's rows. pid 1 is the shell that printed the truths: it ran
 * on, into the dump, and is left out. The guest's own sleepers (sleep 100000, the shell loop
 * and its sleep) are never woken: each must be as /proc showed it, with the same switch count.
 * Kernel threads (kcompactd, rcu_preempt, kworkers) may be woken before the dump, run or not.
 * Truths without switch counts (older fixtures) leave only a kernel thread that is on a CPU,
 * R, or on another CPU out as having run.
 */
export function sinceProc(truths: Truths, rows: ReadonlyMap<number, PsRow>, switches: ReadonlyMap<number, number>): SinceProc {
  const out: SinceProc = { still: [], woken: [], ranSince: [], wrong: [] };
  for (const want of truths.tasks.filter((x) => x.pid !== 1)) {
    const got = rows.get(want.pid);
    if (!got) {
      out.wrong.push(`${want.pid} ${want.comm}: not listed`);
      continue;
    }
    // /proc names a kthread in full and a kworker with its workqueue (`kworker/0:1-events`);
    // task->comm holds the first 15 characters of the name alone.
    const comm = got.comm === want.comm || (want.comm.startsWith(got.comm) && (got.comm.length === 15 || want.comm[got.comm.length] === '-'));
    if (!comm || got.ppid !== want.ppid) out.wrong.push(`${want.pid}: ${got.comm} ppid ${got.ppid}, /proc: ${want.comm} ppid ${want.ppid}`);
    if (!['S', 'D', 'I'].includes(want.state)) continue;
    const count = switches.get(want.pid);
    const seen = `${got.state}${got.onCpu ? ' on' : ''} cpu ${got.cpu} switches ${count}, /proc: ${want.state} cpu ${want.cpu} switches ${want.switches}`;
    if (want.switches !== undefined && (count === undefined || count < want.switches)) {
      out.wrong.push(`${want.pid} ${want.comm}: ${seen}`);
      continue;
    }
    const ran = got.onCpu || (want.switches !== undefined ? count !== want.switches : got.kernelThread && (got.state === 'R' || got.cpu !== want.cpu));
    if (ran) {
      if (got.kernelThread) out.ranSince.push(want.pid);
      else out.wrong.push(`${want.pid} ${want.comm} ran since /proc: ${seen}`);
      continue;
    }
    const woken = got.kernelThread && got.state === 'R';
    if ((got.state !== want.state && !woken) || (got.cpu !== want.cpu && !woken)) {
      out.wrong.push(`${want.pid} ${want.comm}: ${seen}`);
      continue;
    }
    if (woken) out.woken.push(want.pid);
    out.still.push(want);
  }
  return out;
}
