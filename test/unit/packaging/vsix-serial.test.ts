/**
 * The serial binding as the installed extension finds it: the vsix of this machine's platform
 * and the universal one, unpacked as VS Code installs them, their own dist/adapter.js driven
 * over DAP. With the binding, a kgdb attach on a pseudo-terminal (socat's, like a USB serial
 * adapter's tty) opens it and writes kgdb's first packet onto the line; without it, the attach
 * fails saying that this build has no serial support. The real attach to a kernel through a pty
 * is the vscode tier's (test/vscode/kgdb-pty.mjs).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { buildPackages, hostTarget, unpackVsix, type Built } from './packages';

const target = hostTarget();

/** socat with a pty at `link` on one side and its own stdin/stdout on the other. */
async function ptyToStdio(link: string): Promise<{ socat: ChildProcessWithoutNullStreams; seen: () => string }> {
  const socat = spawn('socat', [`PTY,raw,echo=0,link=${link}`, 'STDIO'], { stdio: 'pipe' });
  let data = '';
  socat.stdout.on('data', (b: Buffer) => (data += b.toString('latin1')));
  const deadline = Date.now() + 10_000;
  while (!fs.existsSync(link)) {
    if (socat.exitCode !== null || Date.now() > deadline) throw new Error(`socat made no pty at ${link} (exit ${socat.exitCode})`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { socat, seen: () => data };
}

async function waitFor(what: string, check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the serial binding inside the installed extension', { skip: target ? false : `no platform vsix for ${process.platform}-${process.arch}` }, () => {
  let built: Built;
  let tmp: string;
  let platformExt: string;
  let universalExt: string;
  let vmlinux: string;

  before(() => {
    built = buildPackages(['universal', target!]);
    // Outside the checkout, so no node_modules of the repository is on the lookup path.
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-installed-'));
    platformExt = unpackVsix(built.vsix(target!), path.join(tmp, target!));
    universalExt = unpackVsix(built.vsix('universal'), path.join(tmp, 'universal'));
    // kgdb attach opens the line before it reads the vmlinux when arch is given.
    vmlinux = path.join(tmp, 'vmlinux');
    fs.writeFileSync(vmlinux, '');
  });
  after(() => {
    built?.remove();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it(`Node resolves @serialport/bindings-cpp from dist/ of kdap-${target} to its own copy, and not from the universal one`, () => {
    const fromPlatform = createRequire(path.join(platformExt, 'dist', 'adapter.js')).resolve('@serialport/bindings-cpp');
    assert.equal(fromPlatform, path.join(platformExt, 'dist', 'node_modules', '@serialport', 'bindings-cpp', 'dist', 'index.js'));
    assert.throws(() => createRequire(path.join(universalExt, 'dist', 'adapter.js')).resolve('@serialport/bindings-cpp'), /Cannot find module/);
  });

  it(`kdap-${target}'s adapter opens a pty as a kgdb serial line and sends kgdb's first packet on it`, { timeout: 60_000 }, async () => {
    const { socat, seen } = await ptyToStdio(path.join(tmp, 'ttyKGDB'));
    const device = fs.realpathSync(path.join(tmp, 'ttyKGDB'));
    const dc = new DebugClient(process.execPath, path.join(platformExt, 'dist', 'adapter.js'), 'kdap');
    const said: string[] = [];
    dc.on('output', (e: DebugProtocol.OutputEvent) => said.push(e.body.output));
    try {
      await dc.start();
      await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
      const attach = dc.attachRequest({ vmlinux, arch: 'x86_64', kgdb: { port: device, baud: 115200, shareConsole: true } } as DebugProtocol.AttachRequestArguments);
      attach.catch(() => undefined);
      // gdb's qSupported, sent by kdap's line proxy to ask whether kgdb is there.
      await waitFor('$qSupported on the far end of the pty', () => seen().includes('$qSupported'), 30_000);
      assert.ok(said.some((l) => l.startsWith(`kgdb: ${device} at 115200 baud`)), `no notice of the opened line in:\n${said.join('')}`);
      assert.ok(!said.join('').includes('no serial-port support'));
    } finally {
      await Promise.race([dc.disconnectRequest({}).catch(() => undefined), new Promise((r) => setTimeout(r, 10_000))]);
      await Promise.race([dc.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 3000))]);
      socat.kill();
    }
  });

  it('the universal vsix\'s adapter says that this build has no serial support, and how to get it', { timeout: 60_000 }, async () => {
    const { socat } = await ptyToStdio(path.join(tmp, 'ttyNONE'));
    const dc = new DebugClient(process.execPath, path.join(universalExt, 'dist', 'adapter.js'), 'kdap');
    try {
      await dc.start();
      await dc.initializeRequest({ adapterID: 'kdap', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
      await assert.rejects(
        dc.attachRequest({ vmlinux, arch: 'x86_64', kgdb: { port: path.join(tmp, 'ttyNONE') } } as DebugProtocol.AttachRequestArguments),
        (e: Error) => {
          assert.match(e.message, /no serial-port support/);
          assert.match(e.message, /kdap-linux-x64\.vsix/);
          assert.match(e.message, /tcp:HOST:PORT/);
          return true;
        },
      );
    } finally {
      await Promise.race([dc.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 3000))]);
      socat.kill();
    }
  });
});
