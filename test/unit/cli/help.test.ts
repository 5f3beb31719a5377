/**
 * `kdap` as users meet it first: the bundled dist/cli.js in a child process, asked for help and
 * its version, and given too little.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs, wantsHelp } from '../../../src/cli/args';
import { attachOptions } from '../../../src/cli/attach';

const repoRoot = path.resolve(__dirname, '..', '..', '..', '..');
const cli = path.join(repoRoot, 'dist', 'cli.js');
const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };

function kdap(...args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 30_000 });
}

/** The command names `kdap --help` lists under "commands:". */
function listedCommands(help: string): string[] {
  const block = help.split('\ncommands:\n')[1]?.split('\n\n')[0] ?? '';
  return block.split('\n').map((l) => /^ {2}(\S+)/.exec(l)?.[1]).filter((n): n is string => n !== undefined);
}

describe('kdap help and version', () => {
  before(() => {
    if (!fs.existsSync(cli)) {
      const b = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs')], { cwd: repoRoot, encoding: 'utf8' });
      assert.equal(b.status, 0, b.stderr);
    }
  });

  it('kdap core: a missing or unknown subcommand is a usage error; a missing dump file is named', () => {
    const bare = kdap('core');
    assert.equal(bare.status, 2);
    assert.match(bare.stderr, /usage: kdap core info/);
    assert.equal(kdap('core', 'frobnicate', '--core', 'x').status, 2);
    assert.equal(kdap('core', 'info', '--vmlinux', cli).status, 2, '--core is required');
    const missing = kdap('core', 'info', '--core', '/nonexistent/vmcore', '--vmlinux', cli);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /dump '\/nonexistent\/vmcore' does not exist/);
  });

  it('--help lists the commands and exits 0; no arguments prints it to stderr and exits 2', () => {
    const help = kdap('--help');
    assert.equal(help.status, 0, help.stderr);
    assert.deepEqual(listedCommands(help.stdout).sort(), ['bt', 'core', 'cpus', 'dap', 'dmesg', 'modules', 'oops', 'ps', 'walk']);
    const bare = kdap();
    assert.equal(bare.status, 2);
    assert.equal(bare.stdout, '');
    assert.equal(bare.stderr, help.stdout);
  });

  it('every command answers --help, -h and `kdap help NAME` with its usage and exits 0', () => {
    for (const name of listedCommands(kdap('--help').stdout)) {
      const long = kdap(name, '--help');
      assert.equal(long.status, 0, `${name} --help: ${long.stderr}`);
      assert.match(long.stdout, new RegExp(`^usage: kdap ${name}\\b`), name);
      assert.equal(long.stderr, '', name);
      assert.equal(kdap(name, '-h').stdout, long.stdout, `${name} -h`);
      assert.equal(kdap('help', name).stdout, long.stdout, `help ${name}`);
      // Each option of the usage lines is explained below them.
      const [usageLines, body] = [long.stdout.split('\n\n')[0], long.stdout.split('\n\n').slice(1).join('\n\n')];
      for (const option of new Set(usageLines.match(/--[a-z-]+/g) ?? [])) {
        assert.match(body, new RegExp(`^ +${option}\\b`, 'm'), `${name} --help does not explain ${option}`);
      }
    }
  });

  it('--help wins over missing arguments, but not after --', () => {
    assert.equal(kdap('walk', '--help').status, 0);
    assert.equal(kdap('oops', 'decode', '--help').status, 0);
    assert.equal(wantsHelp(['--', '--help']), false);
    assert.equal(wantsHelp(['0x1000', '-h']), true);
  });

  it('--version prints package.json\'s version', () => {
    const r = kdap('--version');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `kdap ${pkg.version}\n`);
  });

  it('unknown commands and missing --vmlinux are usage errors (exit 2) that point at --help', () => {
    const unknown = kdap('frobnicate');
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown command 'frobnicate'/);
    const noVmlinux = kdap('cpus', '--remote', 'localhost:1');
    assert.equal(noVmlinux.status, 2);
    assert.match(noVmlinux.stderr, /--vmlinux is required[\s\S]*kdap cpus --help/);
    assert.equal(kdap('help', 'frobnicate').status, 2);
  });

  it('--remote defaults to localhost:1234 (QEMU -s); a given one is kept and checked', () => {
    const usage = 'usage: test';
    assert.equal(attachOptions(parseArgs(['--vmlinux', 'vmlinux'], ['remote', 'vmlinux', 'gdb']), usage).remote, 'localhost:1234');
    assert.equal(attachOptions(parseArgs(['--vmlinux', 'v', '--remote', '10.0.0.2:4321'], ['remote', 'vmlinux', 'gdb']), usage).remote, '10.0.0.2:4321');
    assert.throws(() => attachOptions(parseArgs(['--vmlinux', 'v', '--remote', 'nohostport'], ['remote', 'vmlinux', 'gdb']), usage), /HOST:PORT/);
  });
});
