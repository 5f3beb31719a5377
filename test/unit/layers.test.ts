/**
 * The layers of ARCHITECTURE.md, checked on the sources themselves: every import in src/ goes
 * to its own folder or one the table in eslint.config.mjs allows, the pure layers use no editor
 * API, and the `kdap` command's whole import graph stays out of the DAP adapter.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const root = path.resolve(__dirname, '..', '..', '..');
const src = path.join(root, 'src');

let LAYERS: Record<string, string[]>;
let EDITOR_PACKAGES: Record<string, string[]>;
let ALL_EDITOR: string[];

before(async () => {
  // The table ESLint enforces, so the two cannot disagree.
  const config = (await import(pathToFileURL(path.join(root, 'eslint.config.mjs')).href)) as {
    LAYERS: typeof LAYERS;
    EDITOR_PACKAGES: typeof EDITOR_PACKAGES;
    ALL_EDITOR: string[];
  };
  ({ LAYERS, EDITOR_PACKAGES, ALL_EDITOR } = config);
});

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Module specifiers of static imports, re-exports and require() calls. */
function specifiers(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'([^']+)'|(?:^|\n)\s*import\s+'([^']+)'|\brequire\(\s*'([^']+)'\s*\)/g)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

/** The top folder of src/ a file is in. */
function layerOf(file: string): string {
  return path.relative(src, file).split(path.sep)[0];
}

function resolveRelative(from: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(from), spec);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts')]) if (fs.existsSync(candidate)) return candidate;
  return undefined;
}

describe('layers', () => {
  test('every folder of src/ is in the table', () => {
    const folders = fs.readdirSync(src, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    for (const f of folders) assert.ok(f in LAYERS, `src/${f} is not in the layer table of eslint.config.mjs`);
  });

  test('imports go down the layers only, and the pure layers use no editor API', () => {
    const wrong: string[] = [];
    for (const file of sources(src)) {
      const layer = layerOf(file);
      const editor = EDITOR_PACKAGES[layer] ?? ALL_EDITOR;
      for (const spec of specifiers(file)) {
        const where = `${path.relative(root, file)} imports '${spec}'`;
        if (spec.startsWith('.')) {
          const target = resolveRelative(file, spec);
          if (!target) continue; // not a source file (a JSON asset): nothing to layer
          const to = layerOf(target);
          if (to !== layer && !LAYERS[layer].includes(to)) wrong.push(`${where}: src/${layer} may not import src/${to}`);
        } else if (editor.some((p) => (p.endsWith('/*') ? spec.startsWith(p.slice(0, -1)) : spec === p))) {
          wrong.push(`${where}: src/${layer} uses no editor API`);
        }
      }
    }
    assert.deepEqual(wrong, []);
  });

  test('the kdap command: nothing it imports, however indirectly, is the DAP adapter or its library', () => {
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const spec of specifiers(file)) {
        if (!spec.startsWith('.')) packages.add(spec);
        else {
          const target = resolveRelative(file, spec);
          if (target) visit(target);
        }
      }
    };
    visit(path.join(src, 'cli', 'main.ts'));
    const layers = new Set([...seen].map(layerOf));
    // Directly it imports engine, kernel and oops (the test above); through them, never a front end.
    assert.deepEqual([...layers].filter((l) => ['adapter', 'extension', 'server'].includes(l)), [], 'the CLI graph reaches these front ends');
    assert.ok(seen.has(path.join(src, 'engine', 'attachment.ts')), 'the walk found the engine');
    assert.deepEqual([...packages].filter((p) => p.startsWith('@vscode/') || p.startsWith('vscode')), []);
  });

  // scripts/test.mjs builds dist/ before any tier runs.
  test('the kdap bundle (dist/cli.js) carries no @vscode/debugadapter', () => {
    const bundle = fs.readFileSync(path.join(root, 'dist', 'cli.js'), 'utf8');
    assert.doesNotMatch(bundle, /node_modules\/@vscode\/debugadapter\//);
    // The adapter's own bundle does, which is what makes the check mean something.
    assert.match(fs.readFileSync(path.join(root, 'dist', 'adapter.js'), 'utf8'), /node_modules\/@vscode\/debugadapter\//);
  });
});
