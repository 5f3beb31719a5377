import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { selectGdb, which } from '../../../src/gdb/select';
import { GdbNotFound } from '../../../src/gdb/errors';
import { archOps } from '../../../src/kernel/arch';

describe('gdb selection', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-gdb-'));
  const fake = (name: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    return p;
  };

  test('a configured gdbPath wins; a wrong one is a clear error', () => {
    const g = fake('my-gdb');
    assert.equal(selectGdb(archOps('arm64').gdb, g), g);
    assert.throws(() => selectGdb(archOps('arm64').gdb, path.join(dir, 'missing-gdb')), (e: Error) => e instanceof GdbNotFound && /missing-gdb/.test(e.message));
  });

  test('which() searches PATH without a shell and skips non-executables', () => {
    fs.writeFileSync(path.join(dir, 'not-exec'), 'x', { mode: 0o644 });
    assert.equal(which('not-exec', dir), undefined);
    fake('aarch64-linux-gnu-gdb');
    assert.equal(which('aarch64-linux-gnu-gdb', dir), path.join(dir, 'aarch64-linux-gnu-gdb'));
  });

  test('the real machine has gdb-multiarch, chosen for both arches', () => {
    const chosen = selectGdb(archOps('x86_64').gdb);
    assert.match(path.basename(chosen), /gdb/);
    assert.equal(which('gdb-multiarch') !== undefined, true);
  });
});
