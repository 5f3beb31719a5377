/**
 * `kdap core info|ps|bt|dmesg|modules|walk` (the bundled dist/cli.js) on the dumps of
 * scripts/fixtures-dumps.sh, both arches and every format, against what the guest printed
 * before the dump (dmesg, /proc/modules, /proc/<pid>/stat and stack, the panic on its console)
 * and QEMU's `gva2gpa`; and
 * bad input (cut short, garbage, another kernel's vmlinux, another arch, a process's core):
 * a clear error, a non-zero exit, no gdb left behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CoreInfo } from '../../src/cli/core';
import type { PsReport, StacksReport } from '../../src/engine/task-report';
import type { WalkResult } from '../../src/kernel/pagetable';
import { repoRoot } from '../support/dap';
import { archFixture, fixtureArches, kgdbFixture, type FixtureArch } from '../support/fixtures';
import { assertTail, dumpFixture, GdbDebugInfo, sinceProc, switchCounts, type DumpFixture } from './dump-support';
import { functionName, innerLabels, kernelStyleFrames, schedFunctions } from './tasks-support';

const cli = path.join(repoRoot, 'dist', 'cli.js');
let scratch = '';
/** gdb under a name of this run's own, so a gdb left behind would be found by name. */
let gdb = '';

function kdap(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args, '--gdb', gdb], { encoding: 'utf8', timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function leftBehind(): string[] {
  const r = spawnSync('pgrep', ['-af', gdb], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l.trim() && !l.includes('pgrep'));
}


before(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-core-'));
  gdb = path.join(scratch, `gdb-core-test-${process.pid}`);
  fs.symlinkSync(spawnSync('sh', ['-c', 'command -v gdb-multiarch'], { encoding: 'utf8' }).stdout.trim(), gdb);
});
after(() => {
  assert.deepEqual(leftBehind(), [], 'no gdb of these tests is left running');
  fs.rmSync(scratch, { recursive: true, force: true });
});

const scenarios: Array<{ arch: FixtureArch; scenario: 'qemu' | 'kdump' }> = [
  ...fixtureArches.map((arch) => ({ arch, scenario: 'qemu' as const })),
  { arch: 'x86_64', scenario: 'kdump' },
];

for (const { arch, scenario } of scenarios) {
  describe(`kdap core on the ${arch} ${scenario} dumps`, { concurrency: false }, () => {
    const fx = dumpFixture(arch, scenario);
    test('fixture present', () => assert.ok(!('missing' in fx), 'missing' in fx ? fx.missing : ''));
    if ('missing' in fx) return;
    const f = fx as DumpFixture;
    const vmlinux = archFixture(arch).vmlinux;
    // The panic as the first kernel's console showed it: `Kernel panic - …` then `CPU: N PID: P`.
    const panicLine = f.truths.panicConsole?.find((l) => /Kernel panic - not syncing/.test(l));
    const panicCpu = f.truths.panicConsole?.map((l) => /CPU: (\d+) PID: (\d+)/.exec(l)).find(Boolean);

    for (const [name, file] of Object.entries(f.files)) {
      test(`${name}: info, dmesg and walk`, () => {
        const info = kdap('core', 'info', '--core', file, '--vmlinux', vmlinux, '--json');
        assert.equal(info.status, 0, info.stderr);
        const i = JSON.parse(info.stdout) as CoreInfo;
        assert.equal(i.arch, arch);
        assert.equal(i.release, archFixture(arch).release);
        assert.equal(i.cpus, 2);
        assert.equal(i.format, file.endsWith('.elf') ? 'elf' : file.endsWith('.flat') ? 'kdump-flattened' : 'kdump');
        assert.equal(i.producer, scenario);
        // ELF has no field for makedumpfile's dump level; kdump-compressed files record it.
        if (/-d31/.test(name) && i.format !== 'elf') assert.equal(i.dumpLevel, 31);
        if (scenario === 'qemu') assert.equal(i.crash, null, 'a running guest dumped by QEMU did not crash');
        else {
          assert.ok(i.crash && panicLine && panicCpu, `a crash is reported: ${info.stdout}`);
          assert.equal(i.crash.kind, 'panic');
          assert.ok(panicLine.endsWith(i.crash.title), `${i.crash.title} vs the console's ${panicLine}`);
          assert.equal(i.crash.cpu, Number(panicCpu[1]));
          assert.equal(i.crash.pid, Number(panicCpu[2]));
        }

        const dmesg = kdap('core', 'dmesg', '--core', file, '--vmlinux', vmlinux);
        assert.equal(dmesg.status, 0, dmesg.stderr);
        const lines = dmesg.stdout.trimEnd().split('\n');
        const at = assertTail(lines, f.truths.dmesg, `${name} dmesg`);
        if (scenario === 'qemu') assert.ok(lines.length - 1 - at <= 3, `records after the guest's last: ${lines.slice(at + 1).join(' | ')}`);
        else assert.ok(lines.slice(at + 1).includes(panicLine!), 'the panic is logged after them, as on the console');

        const truths = Object.values(f.truths.gva2gpa ?? {});
        if (truths.length === 0) return;
        const walk = kdap('core', 'walk', '--core', file, '--vmlinux', vmlinux, '--mm', 'kernel', '--json', ...truths.map((t) => t.va));
        assert.equal(walk.status, 0, walk.stderr);
        const walks = JSON.parse(walk.stdout) as WalkResult[];
        assert.deepEqual(walks.map((w) => w.phys), truths.map((t) => t.pa), `${name}: walks equal QEMU's gva2gpa`);
      });
    }

    // One ELF and one kdump-compressed file (a filtered one where there is): the same tasks.
    const elfName = Object.keys(f.files).find((n) => f.files[n].endsWith('.elf'));
    const kdumpName = Object.keys(f.files).find((n) => /-d31$/.test(n) && f.files[n].endsWith('.kdump')) ?? Object.keys(f.files).find((n) => f.files[n].endsWith('.kdump'));
    for (const name of [elfName, kdumpName].filter((n): n is string => n !== undefined)) {
      test(`${name}: ps and bt --all are the tasks and stacks /proc showed before the dump`, async (t) => {
        const file = f.files[name];
        const p = kdap('core', 'ps', '--core', file, '--vmlinux', vmlinux, '--json');
        assert.equal(p.status, 0, p.stderr);
        const rows = (JSON.parse(p.stdout) as PsReport).tasks;
        const debug = await GdbDebugInfo.open(vmlinux, arch);
        const switches = await switchCounts(file, debug, rows).finally(() => debug.close());
        const since = sinceProc(f.truths, new Map(rows.map((r) => [r.pid, r])), switches);
        if (since.woken.length) t.diagnostic(`kernel threads asleep then, woken and not yet run in the dump: ${since.woken.join(', ')}`);
        t.diagnostic(`${since.still.length} sleeping tasks not run since /proc was read; kernel threads that ran since (state, CPU and stack not compared): ${since.ranSince.join(', ') || 'none'}`);
        assert.deepEqual(since.wrong, []);
        assert.ok(since.still.length >= 30, `only ${since.still.length} sleeping tasks in the truths not run since`);

        const b = kdap('core', 'bt', '--all', '--core', file, '--vmlinux', vmlinux, '--json');
        assert.equal(b.status, 0, b.stderr);
        const stacks = new Map((JSON.parse(b.stdout) as StacksReport).stacks.map((s) => [s.pid, s]));
        const sched = schedFunctions(vmlinux);
        const labels = innerLabels(vmlinux);
        const unlike: string[] = [];
        const compared = since.still;
        for (const want of compared) {
          const got = stacks.get(want.pid);
          const frames = kernelStyleFrames(arch, (got?.frames ?? []).map((x) => ({ name: x.function, kind: x.inlined ? 'inline' : x.tailCall ? 'tailcall' : 'normal', pc: x.pc, file: x.file, line: x.line ?? 0 })), sched);
          const proc = want.stack.map((l) => functionName(/^\[<[0-9a-f]+>\] (\S+)/.exec(l)?.[1] ?? l)).map((name) => labels.get(name) ?? name);
          if (JSON.stringify(frames) !== JSON.stringify(proc)) unlike.push(`${want.pid} (${want.comm} ${want.state}):\n  kdap:  ${frames.join(' ← ')}\n  /proc: ${proc.join(' ← ')}${got?.error ? ` (${got.error})` : ''}`);
        }
        t.diagnostic(`${compared.length} sleeping tasks' stacks compared`);
        assert.deepEqual(unlike, []);
      });
    }

    test('modules: /proc/modules and the kdap_test sections', () => {
      const file = Object.values(f.files)[0];
      const r = kdap('core', 'modules', '--core', file, '--vmlinux', vmlinux, '--json');
      assert.equal(r.status, 0, r.stderr);
      const modules = JSON.parse(r.stdout) as Array<{ name: string; base: string; sections: Record<string, string> }>;
      assert.deepEqual(modules.map((m) => m.name).sort(), f.truths.modules.map((l) => l.split(' ')[0]).sort());
      for (const line of f.truths.modules) {
        const [name, , , , , base] = line.split(' ');
        assert.equal(modules.find((m) => m.name === name)?.base, base, `${name} base`);
      }
      const kdapTest = modules.find((m) => m.name === 'kdap_test')!;
      for (const [section, address] of Object.entries(f.truths.sections)) {
        if (kdapTest.sections[section] !== undefined) assert.equal(kdapTest.sections[section], address, `kdap_test ${section}`);
      }
      assert.equal(kdapTest.sections['.text'], f.truths.sections['.text']);
    });
  });
}

describe('kdap core refuses what is not a dump of this vmlinux', { concurrency: false }, () => {
  const x86 = dumpFixture('x86_64', 'qemu');
  const arm = dumpFixture('arm64', 'qemu');
  test('fixtures present', () => {
    assert.ok(!('missing' in x86) && !('missing' in arm), 'dump fixtures are built');
  });
  if ('missing' in x86 || 'missing' in arm) return;
  const vmlinux = archFixture('x86_64').vmlinux;
  const kdumpFile = Object.entries(x86.files).find(([n]) => n === 'qemu-zlib')?.[1] ?? Object.values(x86.files)[0];
  const elfFile = x86.files['elf'];

  function refused(file: string, vm: string, pattern: RegExp): void {
    const r = kdap('core', 'info', '--core', file, '--vmlinux', vm);
    assert.equal(r.status, 1, `exit status 1: ${r.stdout}${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, pattern);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }

  test('a dump cut short', () => {
    const cut = path.join(scratch, 'cut.kdump');
    const fd = fs.openSync(kdumpFile, 'r');
    const head = Buffer.alloc(64 << 10);
    fs.readSync(fd, head, 0, head.length, 0);
    fs.closeSync(fd);
    fs.writeFileSync(cut, head);
    refused(cut, vmlinux, new RegExp(`${cut.replace(/[.]/g, '\\.')}: .*(truncated|cut short|ends|beyond)`, 'i'));
    const elfCut = path.join(scratch, 'cut.elf');
    fs.writeFileSync(elfCut, fs.readFileSync(elfFile).subarray(0, 4096));
    refused(elfCut, vmlinux, /cut\.elf: .*(truncated|cut short|ends|beyond)/i);
  });

  test('garbage and an empty file', () => {
    const junk = path.join(scratch, 'junk');
    fs.writeFileSync(junk, Buffer.from('this is not a kernel dump at all, just text\n'.repeat(100)));
    refused(junk, vmlinux, /junk: not a kernel dump/);
    const empty = path.join(scratch, 'empty');
    fs.writeFileSync(empty, '');
    refused(empty, vmlinux, /empty: the file is empty/);
  });

  test("another kernel's vmlinux of the same arch: both banners named", (t) => {
    const other = kgdbFixture('x86_64');
    if ('missing' in other) return t.skip(other.missing);
    refused(elfFile, other.vmlinux, new RegExp(`(6\\.1\\.0-50-cloud-amd64).*${other.vmlinux.replace(/[.+]/g, '\\$&')}`, 's'));
  });

  test('another arch', () => {
    refused(Object.values(arm.files)[0], vmlinux, /a dump of an arm64 kernel, but .* is an x86_64 kernel/);
  });

  test("a user-space process's core", () => {
    // gdb runs /bin/true to its first instruction and writes its core, as for a crashed program.
    const core = path.join(scratch, 'true.core');
    const g = spawnSync(gdb, ['-nx', '-batch', '-ex', 'starti', '-ex', `gcore ${core}`, '-ex', 'kill', '/bin/true'], { encoding: 'utf8', timeout: 60_000 });
    assert.ok(fs.existsSync(core), `gcore wrote a core: ${g.stdout}${g.stderr}`);
    refused(core, vmlinux, /a user-space process core.*not a kernel dump/);
  });
});
