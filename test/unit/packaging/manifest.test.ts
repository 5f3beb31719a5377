/**
 * package.json as the Marketplace, VS Code and npm read it: no placeholder values, a preview
 * while 0.x, a workspace extension, settings with scopes, views and palette entries with `when`
 * clauses on context keys that exist, and `bin`/`files` that make an installable CLI.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from './packages';

interface Manifest {
  version: string;
  preview?: boolean;
  repository?: unknown;
  extensionKind?: string[];
  bin?: Record<string, string>;
  files?: string[];
  dependencies?: Record<string, string>;
  contributes: {
    configuration: { properties: Record<string, { scope?: string }> };
    views: Record<string, { id: string; when?: string }[]>;
    menus: { commandPalette: { command: string; when?: string }[] };
  };
}

const text = fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8');
const manifest = JSON.parse(text) as Manifest;

describe('package.json', () => {
  it('has no placeholder URLs', () => {
    assert.doesNotMatch(text, /example\.(invalid|com|org)|\.invalid\b/);
    assert.equal(manifest.repository, undefined, 'no public repository to point at');
  });

  it('is a preview while 0.x, and a workspace extension', () => {
    if (manifest.version.startsWith('0.')) assert.equal(manifest.preview, true);
    assert.deepEqual(manifest.extensionKind, ['workspace']);
  });

  it('gives every setting a scope; tool paths can be set per machine and overridden per workspace', () => {
    const props = manifest.contributes.configuration.properties;
    for (const [key, p] of Object.entries(props)) {
      assert.ok(['application', 'machine', 'machine-overridable', 'window', 'resource', 'language-overridable'].includes(p.scope ?? ''), `${key}: scope ${p.scope}`);
    }
    for (const key of ['kdap.gdbPath', 'kdap.qemuPath', 'kdap.toolchainPrefix', 'kdap.llvmPath']) assert.equal(props[key].scope, 'machine-overridable', key);
    for (const key of ['kdap.vmlinux', 'kdap.sourceRoot', 'kdap.modulePaths']) assert.equal(props[key].scope, 'resource', key);
  });

  it('shows the Kernel views only with a kdap session, on the context key the extension sets', () => {
    const sessions = fs.readFileSync(path.join(repoRoot, 'src', 'extension', 'sessions.ts'), 'utf8');
    const key = /sessionActiveKey = '([^']+)'/.exec(sessions)?.[1];
    assert.ok(key && /executeCommand\('setContext', sessionActiveKey, (true|false)\)/.test(sessions), 'sessions.ts sets no session context key');
    for (const view of manifest.contributes.views['kdap-kernel']) assert.equal(view.when, key, view.id);
  });

  it('lists session commands in the palette only while a kdap session is stopped', () => {
    const when = (command: string) => manifest.contributes.menus.commandPalette.find((m) => m.command === command)?.when;
    for (const command of ['kdap.decodeVirtualAddress', 'kdap.showDmesg']) assert.equal(when(command), "debugType == 'kdap' && debugState == 'stopped'", command);
    for (const command of ['kdap.refreshCpus', 'kdap.refreshModules', 'kdap.pickModuleSymbols']) assert.equal(when(command), 'false', command);
  });

  it('installs `kdap` from dist/cli.js and packs only what the CLI needs', () => {
    assert.deepEqual(manifest.bin, { kdap: './dist/cli.js' });
    assert.ok(manifest.files?.includes('dist/cli.js'));
    assert.ok(!manifest.files?.some((f) => /^(src|test|scripts|node_modules)\b|^dist\/?$|\*\*/.test(f)), `files: ${manifest.files}`);
    // esbuild bundles every library into dist/; an install fetches nothing it does not load.
    assert.deepEqual(manifest.dependencies ?? {}, {});
  });
});
