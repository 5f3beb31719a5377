/** `kdap oops parse` as users run it: the bundled dist/cli.js in a child process. */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { reportJson } from '../../../src/oops/json';
import { logsDir, parseFixture, repoRoot } from './helpers';

const cli = path.join(repoRoot, 'dist', 'cli.js');

function kdap(args: string[], input?: string) {
  return spawnSync(process.execPath, [cli, ...args], { cwd: repoRoot, encoding: 'utf8', input });
}

describe('kdap oops parse', () => {
  before(() => {
    // Build only when the bundle predates the command (the test runner builds first anyway).
    if (!fs.existsSync(cli) || !fs.readFileSync(cli, 'utf8').includes('oops parse')) {
      const b = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs')], { cwd: repoRoot, encoding: 'utf8' });
      assert.equal(b.status, 0, b.stderr);
    }
  });

  it('--json on a sample gives the parser’s reports with hex strings for numbers', () => {
    const file = path.join(logsDir, 'x86_64', 'null-deref.log');
    const run = kdap(['oops', 'parse', '--json', file]);
    assert.equal(run.status, 0, run.stderr);
    const out = JSON.parse(run.stdout) as { reports: Array<Record<string, unknown>> };
    assert.equal(out.reports.length, 1);
    const r = out.reports[0] as {
      kind: string;
      file: string;
      cpu: number;
      pid: number;
      comm: string;
      taint: string;
      modules: string[];
      frames: Array<Record<string, unknown>>;
    };
    assert.deepEqual([r.kind, r.file, r.cpu, r.pid, r.comm, r.taint], ['null-deref', file, 1, 94, 'sh', 'OE']);
    assert.deepEqual(r.modules, ['oopsmod', 'binfmt_misc', 'brd']);
    assert.equal(r.frames.length, 7);
    assert.deepEqual(r.frames[0], {
      symbol: 'oopsmod_write.cold',
      offset: '0x5',
      size: '0xa',
      module: 'oopsmod',
      buildId: null,
      reliable: true,
      section: 'Call Trace',
      line: 394,
      context: 'TASK',
    });
    assert.deepEqual(
      r.frames.filter((f) => f.reliable === false).map((f) => [f.symbol, f.line]),
      [['handle_mm_fault', 397]],
    );
    // Exactly what the library produces (bigints as "0x…" strings, nothing lost on the way).
    const expected = parseFixture('x86_64/null-deref.log').reports.map((rep) => reportJson(rep, file));
    assert.deepEqual(out.reports, JSON.parse(JSON.stringify(expected)));
  });

  it('several files and stdin ("-")', () => {
    const a = path.join(logsDir, 'arm64', 'debian61-cortexa57-sysrq-c-panic.log');
    const stdin = fs.readFileSync(path.join(logsDir, 'public', 'lkml-powerpc-soft-lockup.log'), 'utf8');
    const run = kdap(['oops', 'parse', '--json', a, '-'], stdin);
    assert.equal(run.status, 0, run.stderr);
    const out = JSON.parse(run.stdout) as { reports: Array<{ file: string; kind: string; arch: string }> };
    assert.deepEqual(
      out.reports.map((r) => [path.basename(r.file), r.kind, r.arch]),
      [
        ['debian61-cortexa57-sysrq-c-panic.log', 'panic', 'arm64'],
        ['-', 'soft-lockup', 'powerpc'],
      ],
    );
  });

  it('without --json prints a readable summary', () => {
    const run = kdap(['oops', 'parse', path.join(logsDir, 'x86_64', 'warn.log')]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /\[warning\] line 369: WARNING: CPU: 1 PID: 1 at/);
    assert.match(run.stdout, /pc: oopsmod_do_warn\+0x17\/0x20 \[oopsmod\] \(line 373\)/);
    assert.match(run.stdout, /\n +389 {2}\? do_truncate\+0xa6\/0xe0\n/);
  });

  it('usage errors exit 2, unreadable files exit 1', () => {
    assert.equal(kdap(['oops']).status, 2);
    assert.equal(kdap(['oops', 'parse']).status, 2);
    assert.equal(kdap(['oops', 'parse', '--bogus', 'x']).status, 2);
    const missing = kdap(['oops', 'parse', path.join(logsDir, 'does-not-exist.log')]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /ENOENT/);
  });
});
