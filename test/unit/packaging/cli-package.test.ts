/**
 * The `kdap` npm package: what `npm pack` puts in the tarball, and a global install of it into
 * a temporary prefix, after which `kdap` is on PATH and answers --version and --help.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildPackages, manifest, tarEntries, type Built } from './packages';

describe('the kdap npm package', () => {
  let built: Built;
  let tarball: string;
  let prefix: string;

  before(() => {
    built = buildPackages(['cli']);
    tarball = path.join(built.out, `kdap-${manifest.version}.tgz`);
    prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-prefix-'));
  });
  after(() => {
    built?.remove();
    if (prefix) fs.rmSync(prefix, { recursive: true, force: true });
  });

  it('the tarball holds dist/cli.js, the adapter `kdap dap` loads, the manifest and its documents, nothing else', () => {
    assert.deepEqual(tarEntries(tarball), ['package/CHANGELOG.md', 'package/LICENSE', 'package/README.md', 'package/dist/adapter.js', 'package/dist/cli.js', 'package/package.json']);
  });

  it('npm install -g puts kdap on PATH; it prints the version and every command its help', { timeout: 240_000 }, () => {
    const install = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], {
      encoding: 'utf8',
      timeout: 220_000,
    });
    assert.equal(install.status, 0, `npm install failed:\n${install.stdout}\n${install.stderr}`);
    // Found through PATH, as a shell would, from a folder that is not the checkout.
    const env = { ...process.env, PATH: `${path.join(prefix, 'bin')}${path.delimiter}${process.env.PATH}` };
    const kdap = (...args: string[]) => spawnSync('kdap', args, { cwd: os.tmpdir(), env, encoding: 'utf8', timeout: 30_000 });
    const version = kdap('--version');
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout, `kdap ${manifest.version}\n`);
    for (const command of ['cpus', 'walk', 'modules', 'dmesg', 'oops', 'dap']) {
      const help = kdap(command, '--help');
      assert.equal(help.status, 0, `kdap ${command} --help: ${help.stderr}`);
      assert.match(help.stdout, new RegExp(`^usage: kdap ${command}\\b`));
    }
    // `kdap dap` answers DAP's initialize from the installed package (the adapter is its own bundle).
    const request = JSON.stringify({ seq: 1, type: 'request', command: 'initialize', arguments: { adapterID: 'kdap', pathFormat: 'path' } });
    const dap = spawnSync('kdap', ['dap'], { cwd: os.tmpdir(), env, encoding: 'utf8', timeout: 30_000, input: `Content-Length: ${Buffer.byteLength(request)}\r\n\r\n${request}` });
    assert.match(dap.stdout, /"command":"initialize","success":true/, dap.stderr);
    // The serial binding came along as the optional dependency, where dist/cli.js finds it.
    const installed = path.join(prefix, 'lib', 'node_modules', 'kdap');
    const resolved = spawnSync(process.execPath, ['-e', `console.log(require('module').createRequire(${JSON.stringify(path.join(installed, 'dist', 'cli.js'))}).resolve('@serialport/bindings-cpp'))`], { encoding: 'utf8' });
    assert.equal(resolved.status, 0, resolved.stderr);
    assert.ok(resolved.stdout.trim().startsWith(path.join(installed, 'node_modules')), resolved.stdout);
  });
});
