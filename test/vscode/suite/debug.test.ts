import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { AdapterServer } from '../../../src/extension/adapter-server';
import { KdapAdapterFactory, resolveKdapConfiguration, type DebugSettings } from '../../../src/extension/debug';
import { FakeAdapter } from './fakeAdapter';
import { kdapExtension, makeKernelTree, stopAll, workspaceFolder } from './util';

const noSettings: DebugSettings = { vmlinux: '', gdbPath: '', qemuPath: '', gdbIndexCache: true };

describe('debug configurations', () => {
  let adapter: FakeAdapter;
  const tree = makeKernelTree();

  beforeEach(async () => {
    adapter = await FakeAdapter.start();
  });
  afterEach(async () => {
    await stopAll();
    await adapter.close();
    await vscode.workspace.getConfiguration('kdap').update('vmlinux', undefined, vscode.ConfigurationTarget.Global);
  });

  it('resolves a minimal launch configuration with the defaults filled in', async () => {
    const started = await vscode.debug.startDebugging(workspaceFolder(), {
      type: 'kdap',
      request: 'launch',
      name: 'minimal',
      kernel: tree.image,
      debugServer: adapter.port,
    });
    assert.equal(started, true);
    const launch = (await adapter.waitFor('launch')).arguments ?? {};
    assert.equal(launch.kernel, tree.image);
    assert.equal(launch.vmlinux, tree.vmlinux, 'vmlinux is found in the build tree of the kernel image');
    assert.equal(launch.smp, 2);
    assert.equal(launch.memory, '512M');
    assert.equal(launch.stopAt, 'start_kernel');
    assert.equal(launch.arch, undefined, 'arch is left for the adapter to read from the vmlinux');
    assert.deepEqual(launch.modulePaths, [workspaceFolder().uri.fsPath], 'out-of-tree modules are looked for in the workspace');
  });

  it('takes vmlinux from the kdap.vmlinux setting', async () => {
    const other = path.join(tree.root, 'vmlinux-from-setting');
    fs.writeFileSync(other, '');
    await vscode.workspace.getConfiguration('kdap').update('vmlinux', other, vscode.ConfigurationTarget.Global);
    await vscode.debug.startDebugging(workspaceFolder(), {
      type: 'kdap',
      request: 'launch',
      name: 'setting',
      kernel: tree.image,
      smp: 4,
      debugServer: adapter.port,
    });
    const launch = (await adapter.waitFor('launch')).arguments ?? {};
    assert.equal(launch.vmlinux, other);
    assert.equal(launch.smp, 4, 'a value in the configuration wins over the default');
  });

  it('refuses a launch configuration without "kernel" before starting anything', async () => {
    const started = await vscode.debug.startDebugging(workspaceFolder(), {
      type: 'kdap',
      request: 'launch',
      name: 'no kernel',
      vmlinux: tree.vmlinux,
      debugServer: adapter.port,
    });
    assert.equal(started, false);
    assert.equal(adapter.count('initialize'), 0);
  });

  it('refuses a kernel image that does not exist, naming it', async () => {
    const missing = path.join(tree.root, 'no-such-Image');
    const started = await vscode.debug.startDebugging(workspaceFolder(), {
      type: 'kdap',
      request: 'launch',
      name: 'missing kernel',
      kernel: missing,
      vmlinux: tree.vmlinux,
      debugServer: adapter.port,
    });
    assert.equal(started, false);
    assert.equal(adapter.count('initialize'), 0);
  });

  it('attaches to a gdbstub through remote host:port', async () => {
    const started = await vscode.debug.startDebugging(workspaceFolder(), {
      type: 'kdap',
      request: 'attach',
      name: 'attach',
      remote: 'localhost:1234',
      vmlinux: tree.vmlinux,
      debugServer: adapter.port,
    });
    assert.equal(started, true);
    const attach = (await adapter.waitFor('attach')).arguments ?? {};
    assert.equal(attach.remote, 'localhost:1234');
    assert.equal(attach.smp, undefined, 'launch defaults stay out of attach');
  });

  it('checks attach targets: remote or kgdb, and host:port', () => {
    const attach = { type: 'kdap', request: 'attach', name: 'a', vmlinux: tree.vmlinux };
    assert.match(errorOf(resolveKdapConfiguration(attach, noSettings, true)), /"remote".*"kgdb"/);
    assert.match(errorOf(resolveKdapConfiguration({ ...attach, remote: '1234' }, noSettings, true)), /host:port/);
    assert.ok('config' in resolveKdapConfiguration({ ...attach, kgdb: { port: '/dev/ttyUSB0' } }, noSettings, true));
  });

  it('module search roots: the workspace folders unless the configuration names its own', () => {
    const attach = { type: 'kdap', request: 'attach', name: 'a', vmlinux: tree.vmlinux, remote: 'localhost:1234' };
    const settings = { ...noSettings, modulePaths: ['/src/mods'], workspaceFolders: ['/work/driver', '/src/mods'] };
    const config = (r: ReturnType<typeof resolveKdapConfiguration>) => ('config' in r ? r.config : assert.fail(r.error));
    assert.deepEqual(config(resolveKdapConfiguration(attach, settings, true)).modulePaths, ['/src/mods', '/work/driver']);
    assert.deepEqual(config(resolveKdapConfiguration({ ...attach, modulePaths: ['/mine'] }, settings, true)).modulePaths, ['/mine']);
    assert.deepEqual(config(resolveKdapConfiguration({ ...attach, modulePaths: [] }, settings, true)).modulePaths, []);
    assert.equal(config(resolveKdapConfiguration(attach, noSettings, true)).modulePaths, undefined);
  });

  it('in an untrusted workspace refuses to launch and says which programs it would run', () => {
    // The harness runs with workspace trust disabled, so VS Code reports the window trusted;
    // the untrusted path is checked on the resolver itself.
    assert.equal(vscode.workspace.isTrusted, true);
    const launch = { type: 'kdap', request: 'launch', name: 'l', kernel: tree.image, qemuPath: '/tmp/qemu' };
    const settings = { ...noSettings, gdbPath: '/tmp/evil-gdb' };
    const r = resolveKdapConfiguration(launch, settings, false);
    assert.ok('error' in r && r.untrusted);
    assert.match(r.error, /untrusted workspace/);
    assert.match(r.error, /kdap\.gdbPath "\/tmp\/evil-gdb" from the settings/);
    assert.match(r.error, /qemuPath "\/tmp\/qemu" from the configuration/);
    assert.ok('config' in resolveKdapConfiguration(launch, settings, true));
  });

  it('serves sessions from one adapter process per window, on a socket only its owner may reach', async () => {
    const adapterJs = path.join(kdapExtension().extensionPath, 'dist', 'adapter.js');
    assert.ok(fs.existsSync(adapterJs), `${adapterJs} is missing`);
    const server = new AdapterServer(adapterJs);
    try {
      const factory = new KdapAdapterFactory(adapterJs, server);
      const session = { configuration: { type: 'kdap', request: 'launch', name: 'x' } } as unknown as vscode.DebugSession;
      const d = await factory.createDebugAdapterDescriptor(session);
      assert.ok(d instanceof vscode.DebugAdapterNamedPipeServer, `a socket, not ${JSON.stringify(d)}: ${server.lastError}`);
      const running = await server.ensure();
      assert.ok(running);
      assert.equal(d.path, running.socket);
      // The process the socket belongs to is dist/adapter.js on the extension host's Node.
      const cmdline = fs.readFileSync(`/proc/${running.pid}/cmdline`, 'utf8').split('\0');
      assert.deepEqual(cmdline.slice(0, 4), [process.execPath, adapterJs, '--listen', running.socket]);
      assert.equal(fs.statSync(path.dirname(running.socket)).mode & 0o077, 0, 'nobody else may enter the socket\'s directory');
      const again = await factory.createDebugAdapterDescriptor(session);
      assert.ok(again instanceof vscode.DebugAdapterNamedPipeServer && again.path === running.socket, 'the next session goes to the same process');

      // A server that died is replaced at the next session.
      process.kill(running.pid, 'SIGKILL');
      await waitUntil(() => !fs.existsSync(`/proc/${running.pid}/cmdline`) || fs.readFileSync(`/proc/${running.pid}/stat`, 'utf8').includes(') Z '));
      await waitUntil(async () => (await server.ensure())?.pid !== running.pid);
      const next = await server.ensure();
      assert.ok(next && next.pid !== running.pid);
    } finally {
      server.dispose();
    }
  });

  it('falls back to an adapter process of the session\'s own when the server cannot start', async () => {
    const adapterJs = path.join(kdapExtension().extensionPath, 'dist', 'adapter.js');
    const broken = new AdapterServer(path.join(path.dirname(adapterJs), 'no-such-adapter.js'));
    const factory = new KdapAdapterFactory(adapterJs, broken);
    const session = { configuration: { type: 'kdap', request: 'launch', name: 'x' } } as unknown as vscode.DebugSession;
    const d = await factory.createDebugAdapterDescriptor(session);
    assert.ok(d instanceof vscode.DebugAdapterExecutable);
    assert.equal(d.command, process.execPath);
    assert.deepEqual(d.args, [adapterJs]);
    assert.equal(d.options?.env?.ELECTRON_RUN_AS_NODE, '1');
    assert.match(broken.lastError ?? '', /exited|listen/);
    broken.dispose();
  });
});

function errorOf(r: ReturnType<typeof resolveKdapConfiguration>): string {
  assert.ok('error' in r, 'expected a refusal');
  return r.error;
}

async function waitUntil(ok: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
