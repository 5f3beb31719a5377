/**
 * What the vsix files hold: the universal one only the bundles and the manifest's documents;
 * each platform one that plus the serial binding, with exactly the binaries that platform
 * loads, checked with readelf (machine and libc), and a manifest that names the platform.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildPackages, elfInfo, repoRoot, unpackVsix, zipEntries, zipText, type Built } from './packages';

/** What each platform vsix must carry, stated here independently of scripts/package.mjs. */
const platforms: Record<string, { binaries: string[]; machine: string; libc: 'glibc' | 'musl' }> = {
  'linux-x64': { binaries: ['linux-x64/@serialport+bindings-cpp.glibc.node'], machine: 'Advanced Micro Devices X86-64', libc: 'glibc' },
  'linux-arm64': { binaries: ['linux-arm64/@serialport+bindings-cpp.armv8.glibc.node'], machine: 'AArch64', libc: 'glibc' },
  'linux-armhf': {
    binaries: ['linux-arm/@serialport+bindings-cpp.armv6.glibc.node', 'linux-arm/@serialport+bindings-cpp.armv7.glibc.node'],
    machine: 'ARM',
    libc: 'glibc',
  },
  'alpine-x64': { binaries: ['linux-x64/@serialport+bindings-cpp.musl.node'], machine: 'Advanced Micro Devices X86-64', libc: 'musl' },
  'alpine-arm64': { binaries: ['linux-arm64/@serialport+bindings-cpp.armv8.musl.node'], machine: 'AArch64', libc: 'musl' },
};

const bindingDir = 'extension/dist/node_modules/@serialport/bindings-cpp';

/** The universal vsix's entries, from the repository's own files. */
function universalEntries(): string[] {
  const listed = (dir: string) => fs.readdirSync(path.join(repoRoot, dir)).map((f) => `extension/${dir}/${f}`);
  return [
    '[Content_Types].xml',
    'extension.vsixmanifest',
    'extension/package.json',
    'extension/readme.md',
    'extension/changelog.md',
    'extension/LICENSE.txt',
    ...['extension', 'adapter', 'server', 'cli'].map((b) => `extension/dist/${b}.js`),
    ...listed('media'),
    ...listed('syntaxes'),
  ].sort();
}

describe('vsix contents', () => {
  let built: Built;
  let tmp: string;

  before(() => {
    built = buildPackages(['universal', ...Object.keys(platforms)]);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-vsix-'));
  });
  after(() => {
    built?.remove();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('the universal vsix holds the bundles, manifest, documents, icons and grammar, and no binding', () => {
    assert.deepEqual(zipEntries(built.vsix('universal')), universalEntries());
    assert.doesNotMatch(zipText(built.vsix('universal'), 'extension.vsixmanifest'), /TargetPlatform=/);
  });

  for (const [target, want] of Object.entries(platforms)) {
    it(`kdap-${target}.vsix adds the bundled binding and only the ${want.libc} ${want.machine} binaries`, () => {
      const file = built.vsix(target);
      const extra = [
        `${bindingDir}/package.json`,
        `${bindingDir}/LICENSE`,
        `${bindingDir}/dist/index.js`,
        ...want.binaries.map((b) => `${bindingDir}/prebuilds/${b}`),
      ];
      assert.deepEqual(zipEntries(file), [...universalEntries(), ...extra].sort());
      assert.match(zipText(file, 'extension.vsixmanifest'), new RegExp(`TargetPlatform="${target}"`));

      const ext = unpackVsix(file, path.join(tmp, target));
      for (const b of want.binaries) {
        const elf = elfInfo(path.join(ext, 'dist', 'node_modules', '@serialport', 'bindings-cpp', 'prebuilds', b));
        assert.equal(elf.machine, want.machine, b);
        const glibc = elf.needed.includes('libc.so.6');
        assert.equal(glibc ? 'glibc' : 'musl', want.libc, `${b} needs ${elf.needed.join(' ')}`);
        if (!glibc) assert.ok(elf.needed.some((n) => /^libc(\.musl-[\w-]+)?\.so(\.1)?$/.test(n)), `${b} needs no musl libc: ${elf.needed.join(' ')}`);
      }
      // The licenses of everything bundled into the binding's one JavaScript file.
      const license = fs.readFileSync(path.join(ext, 'dist', 'node_modules', '@serialport', 'bindings-cpp', 'LICENSE'), 'utf8');
      for (const name of ['@serialport/bindings-cpp@', 'node-gyp-build@', 'debug@', 'ms@']) assert.ok(license.includes(name), `LICENSE lacks ${name}`);
    });
  }

  it('the packed manifest is the repository\'s, without the npm-only "files"', () => {
    const packed = JSON.parse(zipText(built.vsix('linux-x64'), 'extension/package.json')) as Record<string, unknown>;
    const { files: _files, ...expected } = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(packed, expected);
  });
});
