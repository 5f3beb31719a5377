/**
 * A crash dump opened over DAP like VS Code opens it (`"request": "launch", "core": …`): a
 * stopped, read-only session whose threads are the dump's CPUs, whose stacks and source lines
 * are the ones addr2line gives for the CPU's saved pc (or, for the panic of the real kdump, the
 * call trace the kernel printed on its console), and whose dmesg and page walks equal what the
 * guest printed and QEMU's gva2gpa; whose Tasks (kdap/tasks, kdap/selectTask) are the tasks and
 * stacks /proc showed before the dump. Writes and resumes are refused as read-only.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { DmesgResult, WalkResult } from '../../src/adapter/protocol';
import type { PsReport } from '../../src/engine/task-report';
import { KdapClient } from '../support/dap';
import { archFixture, fixtureArches, loadFixtures, type FixtureArch } from '../support/fixtures';
import { assertTail, dumpFixture, GdbDebugInfo, sinceProc, switchCounts, type DumpFixture } from './dump-support';
import { functionName, innerLabels, kernelStyleFrames, schedFunctions } from './tasks-support';

/** addr2line's answer for a link-time address: `file:line` of each inlined level, innermost first. */
function addr2line(vmlinux: string, address: bigint): string[] {
  const r = spawnSync('addr2line', ['-i', '-e', vmlinux, `0x${address.toString(16)}`], { encoding: 'utf8', timeout: 120_000 });
  return r.stdout.trim().split('\n').map((l) => l.replace(/ \(discriminator \d+\)$/, ''));
}

/**
 * gdb alone on the vmlinux, for the line of a stop's own pc: where the line table has rows that
 * are not statements (is_stmt false) addr2line names their line, gdb the statement's.
 */
function gdbLineAt(vmlinux: string, address: bigint): string {
  const r = spawnSync('gdb-multiarch', ['-nx', '-batch', vmlinux, '-ex', `info line *0x${address.toString(16)}`], { encoding: 'utf8', timeout: 120_000 });
  const m = /Line (\d+) of "([^"]+)"/.exec(r.stdout);
  assert.ok(m, `gdb has no line for 0x${address.toString(16)}: ${r.stdout}${r.stderr}`);
  return `${m[2]}:${m[1]}`;
}

/** The kernel's own call trace on its console, as function names (no `?` guesses, no .cold parts). */
function consoleTrace(lines: readonly string[]): string[] {
  const start = lines.findIndex((l) => /Call [Tt]race:/.test(l));
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    const m = /\]\s+([A-Za-z_][\w.]*)\+0x[0-9a-f]+\/0x[0-9a-f]+/.exec(l);
    if (/<\/TASK>|^\S*\s*RIP:/.test(l)) break;
    if (m && !/\]\s+\? /.test(l)) out.push(m[1].replace(/\.(cold|isra\.\d+|constprop\.\d+|part\.\d+)$/, ''));
  }
  return out;
}

/**
 * Each caller frame with a source line has one of the lines addr2line gives for its return
 * address − 1; the frame of the stop itself has gdb's own line for its pc.
 */
function assertLines(frames: DebugProtocol.StackFrame[], vmlinux: string, slide: bigint): void {
  let checked = 0;
  const top = frames[0].instructionPointerReference;
  for (const [i, fr] of frames.entries()) {
    if (!fr.source?.path || !fr.instructionPointerReference) continue;
    checked++;
    const link = BigInt(fr.instructionPointerReference) - slide;
    const where = i === 0 ? [gdbLineAt(vmlinux, link)] : addr2line(vmlinux, fr.instructionPointerReference === top ? link : link - 1n);
    assert.ok(where.some((w) => w.endsWith(`${fr.source!.path!.split('/').slice(-2).join('/')}:${fr.line}`)), `frame ${i} ${fr.name} at ${fr.source.path}:${fr.line} vs addr2line ${where.join(' | ')}`);
  }
  assert.ok(checked >= 3 && frames[0].source?.path, `source lines checked for ${checked} of ${frames.length} frames`);
}

interface Case {
  arch: FixtureArch;
  scenario: 'qemu' | 'kdump';
  format: string;
}

const cases: Case[] = [
  ...fixtureArches.map((arch) => ({ arch, scenario: 'qemu' as const, format: 'qemu-zlib.flat' })),
  { arch: 'x86_64', scenario: 'qemu', format: 'elf' },
  { arch: 'x86_64', scenario: 'kdump', format: 'vmcore-c-d31' },
];

for (const c of cases) {
  describe(`a ${c.arch} ${c.scenario} dump (${c.format}) over DAP`, { concurrency: false }, () => {
    const fx = dumpFixture(c.arch, c.scenario);
    test('fixture present', () => assert.ok(!('missing' in fx) && fx.files[c.format], 'missing' in fx ? fx.missing : `no ${c.format}`));
    if ('missing' in fx || !fx.files[c.format]) return;
    const f = fx as DumpFixture;
    const vmlinux = archFixture(c.arch).vmlinux;
    const dc = new KdapClient();
    let stop: DebugProtocol.StoppedEvent;
    let frames: DebugProtocol.StackFrame[] = [];

    before(async () => {
      await dc.start();
      await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
      const stopped = dc.stopped(undefined, 120_000);
      await Promise.all([dc.launch({ type: 'kdap', request: 'launch', name: 'dump', core: f.files[c.format], vmlinux, sourceRoot: loadFixtures().sourceRoot, substitutePath: archFixture(c.arch).substitutePath, trace: true } as DebugProtocol.LaunchRequestArguments), dc.configurationSequence()]);
      stop = await stopped;
    });

    after(async () => {
      dc.saveLogs(`dump-dap-${c.arch}-${c.scenario}-${c.format}`);
      await dc.endLaunch();
    });

    test('threads are the CPUs; the stop is on the crashing CPU with the crash as its reason', async () => {
      const said = dc.trace.join('');
      assert.match(said, /Opened .* It is read-only\./);
      assert.doesNotMatch(said, /linux_banner is not readable|does not match/, 'the banner was checked and matched');
      const threads = (await dc.threadsRequest()).body.threads;
      assert.deepEqual(threads.map((t) => t.name.split(' ·')[0]), ['CPU 0', 'CPU 1']);
      if (c.scenario === 'qemu') {
        assert.equal(stop.body.reason, 'entry', 'a running guest dumped by QEMU did not crash');
        return;
      }
      const panic = f.truths.panicConsole!.find((l) => /Kernel panic - not syncing/.test(l))!;
      const cpu = Number(/CPU: (\d+) PID/.exec(f.truths.panicConsole!.join('\n'))![1]);
      assert.equal(stop.body.reason, 'exception');
      assert.equal(stop.body.description, 'Paused on Kernel panic');
      assert.ok(panic.endsWith(stop.body.text!), `${stop.body.text} vs the console's ${panic}`);
      assert.equal(threads.find((t) => t.id === stop.body.threadId)?.name.split(' ·')[0], `CPU ${cpu}`);
      const info = await dc.exceptionInfoRequest({ threadId: stop.body.threadId! });
      assert.ok(panic.endsWith(info.body.description!));
    });

    test('the stopped CPU\'s stack: its saved pc on top, source lines as addr2line gives them', async () => {
      frames = (await dc.stackTraceRequest({ threadId: stop.body.threadId!, levels: 40 })).body.stackFrames;
      if (c.scenario === 'qemu') {
        // QEMU's `info registers` before the dump, and no KASLR in these guests: pcs are link
        // addresses. A running guest's CPU may have been anywhere (a user page fault's entry: one
        // frame), so every CPU's top pc is checked, and source lines over the CPUs' frames together.
        const threads = (await dc.threadsRequest()).body.threads.filter((t) => /^CPU \d+/.test(t.name));
        const all: DebugProtocol.StackFrame[] = [];
        for (const [cpu, t] of threads.entries()) {
          const own = (await dc.stackTraceRequest({ threadId: t.id, levels: 40 })).body.stackFrames;
          const saved = f.truths.registers!.find((r) => r.cpu === cpu)!;
          assert.equal(BigInt(own[0].instructionPointerReference!), BigInt(saved.pc!), `CPU ${cpu}'s top pc`);
          if (own.length > all.length) all.splice(0, all.length, ...own);
        }
        assertLines(all, vmlinux, 0n);
        return;
      }
      assert.ok(frames.length >= 3, frames.map((x) => x.name).join(' < '));
      // The panic: the kernel printed its call trace; our frames from panic() down are those functions.
      const names = frames.map((x) => x.name);
      const trace = consoleTrace(f.truths.panicConsole!).filter((n) => n !== 'dump_stack_lvl');
      const from = names.indexOf('panic');
      assert.ok(from >= 0 && from <= 3, `panic() near the top: ${names.join(' < ')}`);
      const ours = names.slice(from).filter((n) => trace.includes(n));
      assert.deepEqual(ours, trace.filter((n) => names.includes(n)), `${names.join(' < ')} vs ${trace.join(' < ')}`);
      assert.ok(trace.filter((n) => names.includes(n)).length >= trace.length - 2, `most of the console's trace: ${names.join(' < ')} vs ${trace.join(' < ')}`);
      // KASLR: the console printed panic()'s caller as `FN+0xOFF`, its return address into FN,
      // the same one our frame of FN has: that is the slide from System.map's address.
      const caller = names[from + 1];
      const printed = new RegExp(`\\]\\s+${caller}\\+0x([0-9a-f]+)/`).exec(f.truths.panicConsole!.join('\n'));
      assert.ok(printed, `the console's trace has ${caller}`);
      const map = fs.readFileSync(archFixture(c.arch).systemMap, 'utf8');
      const linked = BigInt(`0x${new RegExp(`^([0-9a-f]+) [tT] ${caller}$`, 'm').exec(map)![1]}`) + BigInt(`0x${printed[1]}`);
      assertLines(frames, vmlinux, BigInt(frames[from + 1].instructionPointerReference!) - linked);
    });

    test('kdap/dmesg ends with what the guest printed; kdap/walk equals gva2gpa; kdap/cpus lists both', async () => {
      const log = (await dc.customRequest('kdap/dmesg', {})).body as DmesgResult;
      assertTail(log.text.trimEnd().split('\n'), f.truths.dmesg, 'kdap/dmesg');
      for (const t of Object.values(f.truths.gva2gpa ?? {})) {
        const w = (await dc.customRequest('kdap/walk', { va: t.va, mm: 'kernel' })).body as WalkResult;
        assert.equal(w.phys, t.pa, `walk of ${t.va}`);
      }
      const cpus = (await dc.customRequest('kdap/cpus', {})).body.cpus as Array<{ cpu: number; task?: { pid: number; comm: string } }>;
      assert.deepEqual(cpus.map((x) => x.cpu), [0, 1]);
      if (c.scenario === 'kdump') {
        // Per-CPU data under KASLR: the panicking CPU runs the task the console named.
        const m = /CPU: (\d+) PID: (\d+) Comm: (\S+)/.exec(f.truths.panicConsole!.join('\n'))!;
        const task = cpus[Number(m[1])].task;
        assert.deepEqual(task && { pid: task.pid, comm: task.comm }, { pid: Number(m[2]), comm: m[3] });
      }
    });

    test('continue, step and writes are refused: a dump is read-only', async () => {
      const thread = stop.body.threadId!;
      await assert.rejects(dc.continueRequest({ threadId: thread }), /read-only/);
      await assert.rejects(dc.nextRequest({ threadId: thread }), /read-only/);
      await assert.rejects(dc.send('writeMemory', { memoryReference: frames[0].instructionPointerReference!, data: 'AAAA' }), /read-only/);
      // Still stopped where it was.
      const again = (await dc.stackTraceRequest({ threadId: thread, levels: 1 })).body.stackFrames[0];
      assert.equal(again.instructionPointerReference, frames[0].instructionPointerReference);
    });

    test('kdap/tasks lists the tasks; a selected sleeping task is a thread whose Call Stack equals /proc/<pid>/stack', async (t) => {
      const ps = (await dc.customRequest('kdap/tasks', {})).body as PsReport;
      const debug = await GdbDebugInfo.open(vmlinux, c.arch);
      const switches = await switchCounts(f.files[c.format], debug, ps.tasks).finally(() => debug.close());
      const since = sinceProc(f.truths, new Map(ps.tasks.map((r) => [r.pid, r])), switches);
      assert.deepEqual(since.wrong, [], 'every task /proc listed is listed, as /proc showed it or as having run since');
      // Of the sleepers not run since: kthreadd (else another kernel thread in S), an idle
      // kworker, and a user task asleep in a system call.
      const still = since.still.filter((x) => !since.woken.includes(x.pid));
      const picks = [
        still.find((x) => x.pid === 2) ?? still.find((x) => x.state === 'S' && x.ppid === 2),
        still.find((x) => x.state === 'I' && x.comm.startsWith('kworker/')),
        still.find((x) => x.state === 'S' && x.ppid !== 2 && x.ppid !== 0),
      ].filter((x) => x !== undefined);
      const sched = schedFunctions(vmlinux);
      const labels = innerLabels(vmlinux);
      const wrong: string[] = [];
      for (const want of picks) {
        const focused = dc.stopped('task');
        const selected = (await dc.customRequest('kdap/selectTask', { pid: want.pid })).body as { threadId: number; name: string };
        assert.equal((await focused).body.threadId, selected.threadId);
        const threads = (await dc.threadsRequest()).body.threads;
        assert.ok(threads.some((x) => x.id === selected.threadId && x.name.includes(`[${want.pid}]`)), JSON.stringify(threads));
        const stack = (await dc.stackTraceRequest({ threadId: selected.threadId, startFrame: 0, levels: 40 })).body.stackFrames;
        const got = kernelStyleFrames(
          c.arch,
          stack.map((x) => ({
            name: x.name.replace(/ \[(inlined|tail call)\]$/, ''),
            kind: x.name.endsWith(' [inlined]') ? 'inline' : x.name.endsWith(' [tail call]') ? 'tailcall' : 'normal',
            pc: x.instructionPointerReference ?? '0x0',
            file: x.source?.path ?? null,
            line: x.line,
          })),
          sched,
        );
        const proc = want.stack.map((l) => functionName(/^\[<[0-9a-f]+>\] (\S+)/.exec(l)?.[1] ?? l)).map((name) => labels.get(name) ?? name);
        if (JSON.stringify(got) !== JSON.stringify(proc)) wrong.push(`${want.pid} (${want.comm} ${want.state}):\n  kdap:  ${got.join(' ← ')}\n  /proc: ${proc.join(' ← ')}`);
        assert.ok(stack.some((x) => x.name === '__schedule' && x.source?.path?.endsWith('kernel/sched/core.c')), `__schedule with its source in ${want.pid}'s stack`);
      }
      t.diagnostic(`${picks.length} selected tasks compared: ${picks.map((x) => `${x.pid} ${x.comm}`).join(', ')}`);
      assert.deepEqual(wrong, []);
      assert.equal(picks.length, 3, `only ${picks.length} sleeping tasks to select`);
      // The CPUs are still the CPUs, with the selected tasks after them.
      const names = (await dc.threadsRequest()).body.threads.map((x) => x.name.split(' ·')[0]);
      assert.deepEqual(names.slice(0, 2), ['CPU 0', 'CPU 1']);
      assert.equal(names.length, 2 + picks.length);
    });
  });
}

describe('a launch of what is not a dump of this vmlinux fails with the reason, leaving nothing running', { concurrency: false }, () => {
  const fx = dumpFixture('x86_64', 'qemu');
  test('fixture present', () => assert.ok(!('missing' in fx), 'missing' in fx ? fx.missing : ''));
  if ('missing' in fx) return;
  const bad: Array<[string, () => { core: string; vmlinux: string }, RegExp]> = [
    ['garbage', () => ({ core: archFixture('x86_64').systemMap, vmlinux: archFixture('x86_64').vmlinux }), /not a kernel dump/],
    ['another arch', () => ({ core: fx.files['elf'], vmlinux: archFixture('arm64').vmlinux }), /a dump of an x86_64 kernel, but .* is an arm64 kernel/],
  ];
  for (const [what, files, reason] of bad) {
    test(what, async () => {
      const dc = new KdapClient();
      await dc.start();
      try {
        await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
        await assert.rejects(dc.launch({ type: 'kdap', request: 'launch', name: 'dump', ...files() } as DebugProtocol.LaunchRequestArguments), reason);
      } finally {
        await dc.endLaunch();
      }
    });
  }
});
