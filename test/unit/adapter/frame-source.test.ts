/** A frame keeps the file and line DWARF gives it when no source tree has the file. */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { frameSource } from '../../../src/adapter/frame-source';
import { SourceMapper } from '../../../src/engine/sources';

const tree = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-frame-source-'));
after(() => fs.rmSync(tree, { recursive: true, force: true }));
fs.mkdirSync(path.join(tree, 'init'));
fs.writeFileSync(path.join(tree, 'init', 'main.c'), '');

describe('frame sources', () => {
  const dwarf = '/build/reproducible-path/linux-6.1.176/debian/build/build_amd64_none_cloud-amd64/init/main.c';

  test('found in the source tree: its path, the line, column 1', () => {
    assert.deepEqual(frameSource(new SourceMapper(tree), 'init/main.c', 1001, dwarf), { source: { path: path.join(tree, 'init', 'main.c'), name: 'main.c' }, line: 1001, column: 1 });
  });

  test('no tree has it: the DWARF path and line stay, de-emphasized', () => {
    const r = frameSource(new SourceMapper(path.join(tree, 'elsewhere')), 'fs/open.c', 1337, '/build/x/fs/open.c');
    assert.equal(r.line, 1337);
    assert.equal(r.column, 1);
    assert.equal(r.source?.name, 'open.c');
    assert.equal(r.source?.path, '/build/x/fs/open.c');
    assert.equal(r.source?.presentationHint, 'deemphasize');
  });

  test('a relative DWARF name alone: the name and line, no path to open', () => {
    const r = frameSource(new SourceMapper(undefined), 'debian/build/init/main.c', 42);
    assert.deepEqual([r.source?.name, r.source?.path, r.line], ['main.c', undefined, 42]);
  });

  test('no file at all: no source, line 0', () => {
    assert.deepEqual(frameSource(new SourceMapper(tree), undefined, undefined), { line: 0, column: 0 });
  });
});
