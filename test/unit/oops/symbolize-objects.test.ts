/**
 * The resolver on objects compiled here (skipped without gcc/binutils/llvm-symbolizer):
 *
 * - a linked object through llvm-symbolizer, every offset of three functions against binutils
 *   `addr2line -f -i` at the address `nm` gives (an independent tool and symbol source);
 * - a relocatable object named like a module, whose `__cold` function lives in `.text.unlikely`:
 *   addr2line without the section (what decode_stacktrace.sh runs) names another function,
 *   kdap names the right one;
 * - the return-address rule at a `noreturn` call that ends a function: the printed return
 *   address is the next function's first byte, and only `addr - 1` finds the caller;
 * - every helper process is reaped on close.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { liveProcessIds } from '../../../src/oops/symbolize/line-process';
import { KernelSymbolizer, type FrameResolution } from '../../../src/oops/symbolize/resolver';
import type { SymbolRef } from '../../../src/oops/types';
import { run, tool } from './readelf';

const SOURCE = `
int counter;
__attribute__((noinline)) int leaf(int x) { return x * counter; }
static inline __attribute__((always_inline)) int inl(int x) {
  return leaf(x) + 1; /* TAG:inl-call */
}
__attribute__((noinline)) int outer(int x) {
  return inl(x) * 2; /* TAG:outer */
}
__attribute__((noinline, cold)) void coldfn(int x) {
  counter += x; /* TAG:cold */
}
__attribute__((noreturn, noinline)) void die(void) { __builtin_trap(); }
__attribute__((noinline)) void ends_in_die(void) {
  counter++;
  die(); /* TAG:die-call */
}
__attribute__((noinline)) int after_die(int x) { return x + counter; }
int main(void) { coldfn(1); return outer(counter) + after_die(1); }
`;

const missing = ['gcc', 'addr2line', 'nm', 'llvm-symbolizer'].find((t) => !tool(t));
const skip = missing ? `${missing} not installed` : undefined;

let dir: string;
let prog: string;
let mod: string;
const tags = new Map<string, number>();

function ref(symbol: string, offset: bigint, module?: string): SymbolRef {
  return { symbol, offset, size: undefined, module, buildId: undefined, address: undefined };
}

function nmAddresses(file: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of run('nm', ['--defined-only', file]).stdout.split('\n')) {
    const [value, , name] = line.split(' ');
    if (name) out.set(name, BigInt('0x' + value));
  }
  return out;
}

function sizes(file: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of run('readelf', ['-sW', file]).stdout.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[3] === 'FUNC') out.set(f[7], Number(f[2]));
  }
  return out;
}

/** binutils' answer: `function line` pairs, innermost first. */
function oracle(file: string, addresses: bigint[], section?: string): string[][] {
  const args = ['-f', '-i', '-a', '-e', file, ...(section ? ['-j', section] : []), ...addresses.map((a) => '0x' + a.toString(16))];
  const out: string[][] = [];
  let fn: string | undefined;
  for (const line of run('addr2line', args).stdout.split('\n')) {
    if (/^0x[0-9a-f]+$/.test(line)) out.push([]);
    else if (fn === undefined) fn = line;
    else {
      out[out.length - 1].push(`${fn} ${line.replace(/ \(discriminator \d+\)$/, '').split(':').pop()}`);
      fn = undefined;
    }
  }
  return out;
}

const chain = (r: FrameResolution | undefined) => (r ? r.positions.map((p) => `${p.function} ${p.line}`) : []);

describe('KernelSymbolizer on compiled objects', { skip }, () => {
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-sym-'));
    const src = path.join(dir, 'fake-mod.c');
    fs.writeFileSync(src, SOURCE);
    SOURCE.split('\n').forEach((l, i) => {
      const m = /TAG:([\w-]+)/.exec(l);
      if (m) tags.set(m[1], i + 1);
    });
    prog = path.join(dir, 'prog');
    mod = path.join(dir, 'mods', 'fake-mod.ko');
    fs.mkdirSync(path.dirname(mod));
    const flags = ['-g', '-O2', '-falign-functions=1', '-fno-inline-small-functions'];
    let r = run('gcc', [...flags, '-o', prog, src]);
    assert.equal(r.status, 0, r.stderr);
    r = run('gcc', [...flags, '-c', '-o', mod, src]);
    assert.equal(r.status, 0, r.stderr);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('linked object: every offset of outer, leaf and coldfn equals addr2line -f -i', async () => {
    const s = new KernelSymbolizer({ vmlinux: prog, idleMs: 0 });
    const addrs = nmAddresses(prog);
    const size = sizes(prog);
    let compared = 0;
    for (const name of ['outer', 'leaf', 'coldfn']) {
      const offsets = [...Array(size.get(name)!).keys()].map(BigInt);
      const ours = await Promise.all(offsets.map((o) => s.resolve(ref(name, o), { arch: 'unknown', release: undefined })));
      const theirs = oracle(
        prog,
        offsets.map((o) => addrs.get(name)! + o),
      );
      offsets.forEach((o, i) => {
        assert.equal(ours[i]?.length, 1, `${name}+${o}`);
        assert.deepEqual(chain(ours[i]![0]), theirs[i], `${name}+0x${o.toString(16)}`);
        compared++;
      });
    }
    assert.ok(compared > 20);
    assert.ok(
      (await Promise.all([...Array(size.get('outer')!).keys()].map((o) => s.resolve(ref('outer', BigInt(o)), { arch: 'unknown', release: undefined }))))
        .map((r) => chain(r?.[0]))
        .some((c) => c.join() === `inl ${tags.get('inl-call')},outer ${tags.get('outer')}`),
      'the inline chain of inl() in outer() shows up',
    );
    await s.close();
  });

  it('module: the .text.unlikely function resolves in its own section; without -j it would not', async () => {
    const s = new KernelSymbolizer({ modulePaths: [path.dirname(mod)], idleMs: 0 });
    const [res] = (await s.resolve(ref('coldfn', 0n, 'fake_mod'), { arch: 'unknown', release: undefined }))!;
    assert.equal(res.section, '.text.unlikely');
    assert.equal(res.tool, 'addr2line');
    assert.equal(res.object, mod);
    const all = await Promise.all([...Array(sizes(mod).get('coldfn')!).keys()].map((o) => s.resolve(ref('coldfn', BigInt(o), 'fake_mod'), { arch: 'unknown', release: undefined })));
    assert.ok(all.every((r) => r?.[0].positions.at(-1)?.function === 'coldfn'));
    assert.ok(all.some((r) => r?.[0].positions.at(-1)?.line === tags.get('cold')));
    // decode_stacktrace.sh's way: nm value + offset, addr2line without a section.
    const naive = oracle(mod, [0n]);
    assert.notEqual(naive[0][0]?.split(' ')[0], 'coldfn', `naive lookup: ${naive[0].join(', ')}`);
    const pos = res.positions.at(-1)!;
    assert.equal(pos.path, path.join(dir, 'fake-mod.c'));
    await s.close();
  });

  it('return address after a noreturn call is looked up at addr - 1, in the caller', async () => {
    const s = new KernelSymbolizer({ vmlinux: prog, idleMs: 0 });
    const addrs = nmAddresses(prog);
    const ret = [...run('objdump', ['-d', '--no-show-raw-insn', prog]).stdout.matchAll(/^\s*([0-9a-f]+):\s+call\s+[0-9a-f]+ <die>/gm)].map((m) => BigInt('0x' + m[1]));
    assert.ok(ret.length >= 1);
    // The instruction after the call: what a stack trace would print.
    const calls = run('objdump', ['-d', prog]).stdout;
    const after = [...calls.matchAll(/^\s*([0-9a-f]+):\s+e8 [0-9a-f ]+\s+call\s+[0-9a-f]+ <die>/gm)].map((m) => BigInt('0x' + m[1]) + 5n);
    const sorted = [...addrs.entries()].sort((a, b) => (a[1] < b[1] ? -1 : 1));
    const next = sorted.find(([, v]) => v === after[0]);
    assert.ok(next, `a function starts right after the noreturn call at 0x${after[0].toString(16)}`);
    const [exact] = (await s.resolve(ref(next[0], 0n), { arch: 'unknown', release: undefined }))!;
    const [asReturn] = (await s.resolve(ref(next[0], 0n), { arch: 'unknown', release: undefined, returnAddress: true }))!;
    assert.equal(exact.positions.at(-1)?.function, next[0]);
    assert.equal(asReturn.lookupAddress, asReturn.address - 1n);
    assert.deepEqual(
      [asReturn.positions.at(-1)?.function, asReturn.positions.at(-1)?.line],
      ['ends_in_die', tags.get('die-call')],
    );
    await s.close();
  });

  it('no helper process outlives close()', () => {
    assert.deepEqual(liveProcessIds(), []);
  });
});
