/**
 * What the task e2e tests share: the guest's own truth about its tasks, gdb's frames of each
 * thread, the filter that makes gdb's frames comparable with the kernel's own stack dump, and
 * a kgdb kernel's boot with its console (bench/tasks.mjs uses these too).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { findFreePort, QemuProcess } from '../../src/engine/qemu';
import { trimKernelStack } from '../../src/engine/stack';
import type { FixtureArch, KgdbKernelFixture } from '../support/fixtures';
import { GuestConsole } from '../support/guest';

/** gdb's own view of each thread's frames, written as JSON (pcs as hex strings). */
export const FRAMES_PY = `
import gdb, json, time
KINDS = {gdb.NORMAL_FRAME: 'normal', gdb.INLINE_FRAME: 'inline', gdb.TAILCALL_FRAME: 'tailcall', gdb.SIGTRAMP_FRAME: 'sigtramp', gdb.ARCH_FRAME: 'arch', gdb.SENTINEL_FRAME: 'sentinel', gdb.DUMMY_FRAME: 'dummy'}
def kdap_dump_frames(path, tids):
    out = []
    for t in sorted(gdb.selected_inferior().threads(), key=lambda t: t.num):
        tid = t.ptid[1]
        if tids and tid not in tids:
            continue
        t0 = time.perf_counter()
        t.switch()
        frames = []
        try:
            f = gdb.newest_frame()
        except gdb.error as e:
            out.append({'tid': tid, 'error': str(e), 'frames': [], 'ms': 0})
            continue
        while f is not None and len(frames) < 64:
            sal = f.find_sal()
            frames.append({'name': f.name(), 'kind': KINDS.get(f.type(), str(f.type())), 'pc': hex(f.pc()), 'file': sal.symtab.filename if sal.symtab else None, 'line': sal.line})
            try:
                f = f.older()
            except gdb.error:
                break
        out.append({'tid': tid, 'frames': frames, 'ms': (time.perf_counter() - t0) * 1000})
    with open(path, 'w') as fh:
        json.dump(out, fh)
`;

export interface GdbFrame {
  name: string | null;
  kind: string;
  pc: string;
  file: string | null;
  line: number;
}

export interface Truth {
  tid: number;
  tgid: number;
  state: string;
  cpu: number;
  switches: number;
  stack: string[];
}

/** The truth file: `T tid tgid state cpu nvcsw nivcsw`, then the stack lines. */
export function parseTruth(text: string): Map<number, Truth> {
  const out = new Map<number, Truth>();
  let current: Truth | undefined;
  for (const line of text.split('\n')) {
    const t = /^T (\d+) (\d+) (\S) (\d+) (\d+) (\d+)$/.exec(line.trim());
    if (t) {
      current = { tid: Number(t[1]), tgid: Number(t[2]), state: t[3], cpu: Number(t[4]), switches: Number(t[5]) + Number(t[6]), stack: [] };
      out.set(current.tid, current);
      continue;
    }
    const s = /^\[<[0-9a-f]+>\] (\S+)/.exec(line.trim());
    if (s && current) current.stack.push(functionName(s[1]));
  }
  return out;
}

/** `msleep+0x2d/0x40` → msleep; gcc's clone suffixes go too (`.isra.0`, `.constprop.0`, `.part.0`, `.cold`). */
export function functionName(symbolic: string): string {
  return symbolic.replace(/\+0x[0-9a-f]+\/0x[0-9a-f]+$/, '').replace(/\.(isra|constprop|part|cold|lto_priv)(\.\d+)?/g, '');
}

/**
 * One awk over every thread's stat file: the shell running it ($$, which is also init here)
 * and the awk itself are left out (they are the ones writing the truth). Fields after the
 * comm: state is 1st, ppid 2nd, processor 37th.
 */
export const TRUTH_AWK =
  "awk -v self=$$ 'FNR==1 { split(FILENAME, a, \"/\"); s=$0; sub(/^.*\\) /, \"\", s); split(s, f, \" \"); if (a[5]==self || (f[2]==self && $2==\"(awk)\")) next; " +
  'v=0; n=0; st="/proc/" a[3] "/task/" a[5] "/status"; while ((getline l < st) > 0) { if (l ~ /^voluntary_ctxt_switches/) { split(l, w, " "); v=w[2] } if (l ~ /^nonvoluntary_ctxt_switches/) { split(l, w, " "); n=w[2] } } close(st); ' +
  'print "T", a[5], a[3], f[1], f[37], v, n; sk="/proc/" a[3] "/task/" a[5] "/stack"; while ((getline l < sk) > 0) print l; close(sk) }\' /proc/[0-9]*/task/[0-9]*/stat';


/**
 * gdb's frames of a sleeping task as the kernel's own filter gives them: no inlined frames, no
 * tail-call frames, none in the scheduler's or the lock text (in_sched_functions()), cut at
 * the entry stub as kdap's stacks are. That text is given by its bounds where the guest
 * printed them, or by the names of the functions in it (schedFunctions(): KASLR moves the
 * bounds, not the names).
 */
export function kernelStyleFrames(arch: FixtureArch, frames: readonly GdbFrame[], sched: ReadonlyArray<readonly [bigint, bigint]> | ReadonlySet<string>): string[] {
  const inSched = (f: GdbFrame) => ('has' in sched ? f.name !== null && sched.has(f.name) : sched.some(([s, e]) => BigInt(f.pc) >= s && BigInt(f.pc) < e));
  const kept = frames.filter((f) => f.kind !== 'inline' && f.kind !== 'tailcall' && !inSched(f));
  const trimmed = trimKernelStack(arch, kept.map((f, level) => ({ level, address: BigInt(f.pc), func: f.name ?? undefined }))).frames;
  return trimmed.map((f) => f.func ?? `0x${f.address!.toString(16)}`);
}

interface NmSymbol {
  at: bigint;
  size: bigint | undefined;
  name: string;
}

/** The vmlinux's text symbols, by binutils' nm (with sizes where the symbol has one). */
function textSymbols(vmlinux: string): NmSymbol[] {
  const r = spawnSync('nm', ['-S', '--defined-only', vmlinux], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`nm ${vmlinux}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .map((l) => /^([0-9a-f]+) (?:([0-9a-f]+) )?[tTwW] (\S+)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ at: BigInt(`0x${m[1]}`), size: m[2] === undefined ? undefined : BigInt(`0x${m[2]}`), name: m[3] }));
}

/** The functions in the vmlinux's scheduler and lock text. */
export function schedFunctions(vmlinux: string): Set<string> {
  const symbols = textSymbols(vmlinux);
  const at = (name: string) => symbols.find((s) => s.name === name)?.at;
  const out = new Set<string>();
  for (const kind of ['sched', 'lock']) {
    const [start, end] = [at(`__${kind}_text_start`), at(`__${kind}_text_end`)];
    if (start === undefined || end === undefined) throw new Error(`no __${kind}_text bounds in ${vmlinux}`);
    for (const s of symbols) if (s.at >= start && s.at < end && !s.name.startsWith(`__${kind}_text_`)) out.add(functionName(s.name));
  }
  return out;
}

/**
 * Labels inside a sized function (`entry_SYSCALL_64_after_hwframe` in `entry_SYSCALL_64`) →
 * that function. /proc/<pid>/stack names a pc by the nearest symbol, such a label too; gdb
 * by the function that holds it.
 */
export function innerLabels(vmlinux: string): Map<string, string> {
  const symbols = textSymbols(vmlinux);
  const sized = symbols.filter((s) => s.size !== undefined && s.size > 0n).sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  const out = new Map<string, string>();
  for (const label of symbols) {
    if (label.size !== undefined) continue;
    let lo = 0;
    let hi = sized.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (sized[mid].at <= label.at) lo = mid;
      else hi = mid - 1;
    }
    const f = sized[lo];
    if (f && f.at < label.at && label.at < f.at + f.size!) out.set(label.name, functionName(f.name));
  }
  return out;
}

export async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A kgdb kernel booted to its shell (without kgdbwait), the UARTs on TCP ports of 127.0.0.1:
 * the console logs to a file; kgdb has its own UART on x86_64 and shares the console on arm64.
 */
export async function bootKgdb(arch: FixtureArch, k: KgdbKernelFixture, dir: string) {
  const consoleLog = path.join(dir, 'console.log');
  const consolePort = await findFreePort();
  const serial = (id: string, port: number, log?: string): string[] => [
    '-chardev', `socket,id=${id},host=127.0.0.1,port=${port},server=on,wait=off${log ? `,logfile=${log}` : ''}`,
    '-serial', `chardev:${id}`,
  ];
  const args = ['-M', k.machine, '-cpu', k.cpu, '-accel', 'tcg', '-smp', '2', '-m', '512M', '-display', 'none', '-monitor', 'none', '-no-reboot'];
  args.push('-kernel', k.kernel, '-initrd', k.initrd, '-append', `${k.append} kgdboc=${k.kgdbTty},115200`);
  args.push(...serial('con', consolePort, consoleLog));
  const kgdbPort = k.kgdbTty === k.console ? consolePort : await findFreePort();
  if (kgdbPort !== consolePort) args.push(...serial('kgdb', kgdbPort));
  const qemu = await QemuProcess.spawn({ program: k.qemu, args, arch, gdbPort: undefined });
  try {
    await until('KDAP-READY on the console', () => fs.existsSync(consoleLog) && /KDAP-READY/.test(fs.readFileSync(consoleLog, 'utf8')), 180_000);
  } catch (e) {
    await qemu.kill();
    throw e;
  }
  return { qemu, consoleLog, consolePort, kgdbPort, shared: kgdbPort === consolePort };
}

/** The guest's shell over a plain TCP connection to its console UART; retried while QEMU still holds an earlier client. */
export async function consoleOn(port: number, prompt: string): Promise<GuestConsole & { close(): void }> {
  const deadline = Date.now() + 30_000;
  let socket: net.Socket;
  for (;;) {
    try {
      socket = await new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect({ host: '127.0.0.1', port });
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      });
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const decoder = new TextDecoder();
  const guest = new GuestConsole({ on: (event, fn) => event === 'console' && socket.on('data', (d: Buffer) => fn(decoder.decode(d, { stream: true }))), write: (text) => socket.write(text) }, prompt);
  guest.sendLine('');
  await guest.waitForPrompt(60_000, guest.mark());
  return Object.assign(guest, { close: () => socket.destroy() });
}


/**
 * A KDAP_CACHE whose gdb index cache holds a stale index for `ko`: one that a gdb wrote with the
 * module's .text at another address, as an earlier session with other modules loaded first
 * leaves it. Everything else in the shared cache (the vmlinux's index, the stored layouts,
 * unpacked modules) is linked in, so nothing is indexed again.
 */
export function cacheWithStaleModuleIndex(ko: string, dir: string): string {
  const shared = process.env.KDAP_CACHE || path.join(os.homedir(), '.cache', 'kdap');
  const root = path.join(dir, 'kdap-cache');
  const index = path.join(root, 'gdb-index');
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(index, { recursive: true });
  for (const entry of fs.existsSync(shared) ? fs.readdirSync(shared) : []) {
    if (entry !== 'gdb-index') fs.symlinkSync(path.join(shared, entry), path.join(root, entry));
  }
  const sharedIndex = path.join(shared, 'gdb-index');
  const id = /Build ID: ([0-9a-f]+)/.exec(spawnSync('readelf', ['-nW', ko], { encoding: 'utf8' }).stdout)?.[1];
  if (!id) throw new Error(`${ko} has no build id`);
  for (const entry of fs.existsSync(sharedIndex) ? fs.readdirSync(sharedIndex) : []) {
    if (!entry.startsWith(id)) fs.symlinkSync(path.join(sharedIndex, entry), path.join(index, entry));
  }
  const r = spawnSync('gdb-multiarch', ['-batch', '-nx', '-iex', `set index-cache directory ${index}`, '-iex', 'set index-cache enabled on', '-ex', `add-symbol-file ${ko} 0x7fff0000`], { encoding: 'utf8', timeout: 120_000 });
  if (!fs.existsSync(path.join(index, `${id}.gdb-index`))) throw new Error(`gdb wrote no index for ${ko}: ${r.stdout}${r.stderr}`);
  return root;
}
