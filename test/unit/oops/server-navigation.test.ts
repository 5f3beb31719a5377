/**
 * dist/server.js with a real symbolizer (the Debian x86_64 fixture; skipped without it): frame
 * and `file.c:123` links, symbolized hovers, code lenses, the kdap/locate and kdap/decode
 * requests, settings changes, workspace trust, and that its helper processes end with it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadFixtures, type Fixtures } from '../../support/fixtures';
import { LspClient } from '../server/lsp-client';
import { readLog, repoRoot } from './helpers';
import { tool } from './readelf';

let fixtures: Fixtures | undefined;
let why: string | undefined;
try {
  fixtures = loadFixtures();
} catch (err) {
  why = (err as Error).message;
}
if (!why && !tool('llvm-symbolizer')) why = 'llvm-symbolizer not installed';

const serverJs = path.join(repoRoot, 'dist', 'server.js');
const URI = 'file:///logs/sysrq-l.log';

interface Link {
  range: { start: { line: number; character: number } };
  target?: string;
  tooltip?: string;
  data?: unknown;
}
interface Lens {
  range: { start: { line: number } };
  command?: { title: string; command: string; arguments?: unknown[] };
  data?: unknown;
}

/** Pids of processes whose parent is `ppid`. */
function children(ppid: number): Array<{ pid: number; cmd: string }> {
  const out: Array<{ pid: number; cmd: string }> = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent === ppid) out.push({ pid: Number(name), cmd: fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ') });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function serverPid(): number {
  const s = children(process.pid).filter((c) => c.cmd.includes('server.js'));
  return s[s.length - 1].pid;
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function start(initializationOptions?: unknown): Promise<{ client: LspClient; pid: number }> {
  const client = new LspClient(serverJs);
  const pid = serverPid();
  await client.request('initialize', { processId: process.pid, rootUri: null, capabilities: {}, workspaceFolders: null, initializationOptions });
  client.notify('initialized', {});
  return { client, pid };
}

describe('language server navigation with the fixture vmlinux', { skip: why }, () => {
  let client: LspClient | undefined;
  let pid: number;
  let text: string;
  let settings: Record<string, unknown>;

  before(async () => {
    if (!fs.existsSync(serverJs) || !fs.readFileSync(serverJs, 'utf8').includes('kdap/locate')) {
      const b = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs')], { cwd: repoRoot, encoding: 'utf8' });
      assert.equal(b.status, 0, b.stderr);
    }
    const fx = fixtures!.arches.x86_64;
    settings = { vmlinux: fx.vmlinux, modulePaths: [fx.debugModulesDir], sourceRoot: fixtures!.sourceRoot };
    ({ client, pid } = await start());
    client.notify('workspace/didChangeConfiguration', { settings: { kdap: settings } });
    text =
      readLog('x86_64/sysrq-l.log') +
      '[    9.000000] kernel BUG at fs/proc/inode.c:340!\n' +
      `[    9.000001] see ${fx.kmod.sourceFile}:70 and ../../etc/shadow.c:1\n`;
    client.notify('textDocument/didOpen', { textDocument: { uri: URI, languageId: 'kernel-log', version: 1, text } });
  });

  after(async () => {
    await client?.close();
  });

  /** The client of this suite (closed by the last test). */
  const c = (): LspClient => client!;
  const lineOf = (s: string) => text.split('\n').findIndex((l) => l.includes(s));

  it('links every frame, and file references only inside the source root', async () => {
    const { result } = await c().request<Link[]>('textDocument/documentLink', { textDocument: { uri: URI } });
    const frames = result.filter((l) => l.data);
    assert.ok(frames.length >= 13, `${frames.length} frame links`);
    const files = result.filter((l) => l.target);
    assert.deepEqual(
      files.map((l) => [l.range.start.line, l.target]),
      [[lineOf('kernel BUG at'), `file://${fixtures!.sourceRoot}/fs/proc/inode.c#L340`]],
      'the kmod path outside the roots and the ../ path are not links',
    );
    const prw = frames.find((l) => l.range.start.line === lineOf('proc_reg_write+0x56'))!;
    const resolved = await c().request<Link>('documentLink/resolve', prw);
    assert.equal(resolved.result.target, `file://${fixtures!.sourceRoot}/fs/proc/inode.c#L340,10`);
    assert.equal(resolved.result.tooltip, 'fs/proc/inode.c:340 (pde_write)');
  });

  it('hovers with the inline chain, a snippet of the source and the return-address note', async () => {
    const line = lineOf('proc_reg_write+0x56');
    const { result } = await c().request<{ contents: { value: string } }>('textDocument/hover', { textDocument: { uri: URI }, position: { line, character: 20 } });
    const md = result.contents.value;
    assert.match(md, /`pde_write` at \[fs\/proc\/inode\.c:340:10\]\(file:\/\/.*fs\/proc\/inode\.c#L340,10\) \(inlined\)/);
    assert.match(md, /`proc_reg_write` at \[fs\/proc\/inode\.c:352:8\]/);
    assert.match(md, /```c\n[\s\S]*>  340 {2}\s+return write\(file, buf, count, ppos\);[\s\S]*```/);
    assert.match(md, /Return address/);
  });

  it('code lenses: Decode report, and the faulting line resolved on demand', async () => {
    const { result } = await c().request<Lens[]>('textDocument/codeLens', { textDocument: { uri: URI } });
    const header = lineOf('NMI backtrace for cpu 1');
    const here = result.filter((l) => l.range.start.line === header);
    assert.equal(here[0].command?.command, 'kdap.decodeOops');
    const open = await c().request<Lens>('codeLens/resolve', here[1]);
    assert.equal(open.result.command?.command, 'kdap.goToKernelSource');
    assert.match(open.result.command!.title, /^Open faulting line \(lib\/dump_stack\.c:\d+\)$/);
    const arg = open.result.command!.arguments![0] as { uri: string; line: number };
    assert.equal(arg.uri, `file://${fixtures!.sourceRoot}/lib/dump_stack.c`);
  });

  it('kdap/locate on text from any editor, and kdap/decode of one report', async () => {
    const loc = await c().request<{ what: string; positions: Array<{ function: string; file: string; line: number; uri: string | null }> }>('kdap/locate', {
      text: 'random text\n[ 1.0]  ? proc_reg_write+0x56/0xa0\n',
      line: 1,
      character: 3,
    });
    assert.equal(loc.result.what, 'proc_reg_write+0x56/0xa0');
    assert.deepEqual(
      loc.result.positions.map((p) => [p.function, p.file, p.line]),
      [
        ['pde_write', 'fs/proc/inode.c', 340],
        ['proc_reg_write', 'fs/proc/inode.c', 352],
      ],
    );
    const outside = await c().request<{ positions: unknown[]; problem: string }>('kdap/locate', { text: '/etc/ssl/x.c:1', line: 0, character: 2 });
    assert.deepEqual(outside.result.positions, []);
    const dec = await c().request<{ text: string; problems: string[] }>('kdap/decode', { uri: URI, reportLine: lineOf('NMI backtrace for cpu 1') + 1 });
    assert.match(dec.result.text, /^\[ {4}2\.163497\] {2}proc_reg_write\+0x56\/0xa0 \(fs\/proc\/inode\.c:352\)$/m);
    assert.ok(!dec.result.text.includes('Linux version'), 'only the report');
  });

  it('a settings change ends the old helper processes; shutdown ends them all', async () => {
    await until(() => children(pid).some((c) => c.cmd.includes('llvm-symbolizer')));
    const before = children(pid).filter((c) => c.cmd.includes('llvm-symbolizer'));
    // The same settings again change nothing; a different module path rebuilds the symbolizer.
    c().notify('workspace/didChangeConfiguration', { settings: { kdap: { ...settings } } });
    await c().request('kdap/locate', { text: ' proc_reg_write+0x56/0xa0', line: 0 });
    assert.deepEqual(children(pid).filter((x) => x.cmd.includes('llvm-symbolizer')).map((x) => x.pid), before.map((b) => b.pid));
    c().notify('workspace/didChangeConfiguration', { settings: { kdap: { ...settings, modulePaths: [...(settings.modulePaths as string[]), os.tmpdir()] } } });
    await until(() => before.every((b) => !fs.existsSync(`/proc/${b.pid}`)));
    await c().request('kdap/locate', { text: ' proc_reg_write+0x56/0xa0', line: 0 });
    assert.ok(children(pid).some((c) => c.cmd.includes('llvm-symbolizer')));
    await c().close();
    client = undefined;
    await until(() => !fs.existsSync(`/proc/${pid}`) && children(pid).length === 0);
  });
});

describe('language server and workspace trust', { skip: why }, () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-trust-'));
    // A stand-in llvm-symbolizer that leaves a mark, then runs the real one.
    const real = spawnSync('sh', ['-c', 'command -v llvm-symbolizer'], { encoding: 'utf8' }).stdout.trim();
    fs.writeFileSync(path.join(dir, 'llvm-symbolizer'), `#!/bin/sh\ntouch "${dir}/ran"\nexec "${real}" "$@"\n`, { mode: 0o755 });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const trusted of [false, true]) {
    it(`${trusted ? 'a trusted' : 'an untrusted'} workspace ${trusted ? 'runs' : 'does not run'} the llvm-symbolizer that settings name`, async () => {
      fs.rmSync(path.join(dir, 'ran'), { force: true });
      const fx = fixtures!.arches.x86_64;
      const { client } = await start({ trusted, kdap: { vmlinux: fx.vmlinux, sourceRoot: fixtures!.sourceRoot, llvmPath: dir } });
      const loc = await client.request<{ positions: Array<{ line: number }> }>('kdap/locate', { text: ' proc_reg_write+0x56/0xa0', line: 0 });
      assert.equal(loc.result.positions.at(-1)?.line, 352, 'resolved either way');
      assert.equal(fs.existsSync(path.join(dir, 'ran')), trusted);
      await client.close();
    });
  }
});
