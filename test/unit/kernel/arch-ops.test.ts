/**
 * Every arch fills every member of ArchOps, and its tables agree with each other. The compiler
 * already refuses an ArchOps without a member; this catches what it cannot: a member set to
 * undefined through a cast, a nested table missing a key another arch has, and registers the
 * views read that the Variables view would not show.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { archOfBootImage, archOfElfMachine, archOps } from '../../../src/kernel/arch';
import { ARCH_NAMES, isArch } from '../../../src/kernel/arch/names';

/** Paths of every leaf of a plain-object tree (arrays, functions, RegExps and bigints are leaves). */
function leaves(value: unknown, at = ''): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof RegExp) return [at];
  const keys = Object.keys(value as object);
  // Tables keyed by data (register names), and unions by kind, are leaves: their keys differ
  // between arches by right.
  if (at === '.registers.fields' || at === '.boot.kaslr.earlyStop') return [at];
  return keys.flatMap((k) => leaves((value as Record<string, unknown>)[k], `${at}.${k}`));
}

function valueAt(value: unknown, path: string): unknown {
  return path.split('.').slice(1).reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], value);
}

/** A member of the other arch's table: present here, unless its parent is null here ("none"). */
function expected(path: string, ops: unknown): boolean {
  const parent = path.slice(0, path.lastIndexOf('.'));
  return parent === '' || valueAt(ops, parent) !== null;
}

describe('ArchOps', () => {
  for (const arch of ARCH_NAMES) {
    test(`${arch}: every member is there, with a value`, () => {
      const ops = archOps(arch);
      assert.equal(ops.arch, arch);
      assert.equal(ops.gdb.name, arch);
      for (const other of ARCH_NAMES) {
        for (const path of leaves(archOps(other))) {
          // null is a value ("this arch has none"); undefined is a member left out.
          if (expected(path, ops)) assert.notEqual(valueAt(ops, path), undefined, `${arch}${path} is missing (${other} has it)`);
        }
      }
      for (const filter of Object.keys(ops.exceptions) as Array<keyof typeof ops.exceptions>) {
        assert.ok(ops.exceptions[filter].length > 0, `${arch}: no function for the ${filter} exception filter`);
      }
    });

    test(`${arch}: the registers the views read are in a register group the Variables view shows`, () => {
      const ops = archOps(arch);
      const shown = (name: string) => ops.registers.general.test(name) || ops.registers.system.includes(name);
      for (const name of [...ops.cpuMode.registers, ...ops.paging.registers]) assert.ok(shown(name), `${arch}: ${name} is read but never shown`);
      for (const name of Object.keys(ops.registers.fields)) assert.ok(shown(name), `${arch}: ${name} has decoded fields but is never shown`);
    });

    test(`${arch}: its ELF machine and boot image name it, and no other arch`, () => {
      const ops = archOps(arch);
      assert.equal(archOfElfMachine(ops.elfMachine), arch);
      assert.equal(ARCH_NAMES.filter((a) => archOps(a).elfMachine === ops.elfMachine).length, 1);
      assert.equal(ARCH_NAMES.filter((a) => archOps(a).qemu.program === ops.qemu.program).length, 1);
    });
  }

  test('boot images: a bzImage header and an arm64 Image header, built here from the boot protocols', () => {
    const bz = new Uint8Array(0x210);
    bz.set([0x48, 0x64, 0x72, 0x53], 0x202); // "HdrS"
    const image = new Uint8Array(0x40);
    image.set([0x41, 0x52, 0x4d, 0x64], 0x38); // "ARM\x64"
    assert.equal(archOfBootImage(bz), 'x86_64');
    assert.equal(archOfBootImage(image), 'arm64');
    assert.equal(archOfBootImage(new Uint8Array(0x210)), undefined);
    assert.equal(archOfElfMachine(3), undefined); // EM_386
  });

  test('names: isArch accepts exactly ARCH_NAMES', () => {
    for (const a of ARCH_NAMES) assert.ok(isArch(a));
    for (const a of ['riscv64', 'aarch64', 'x86', '', undefined, 64]) assert.equal(isArch(a), false);
  });
});
