/**
 * The captured crash logs of test/fixtures/logs against the Debian 6.1 vmlinux and debug
 * modules they came from (skipped until `npm run fixtures` has fetched them).
 *
 * Oracles, none of which share code with kdap:
 * - frames: System.map gives the symbol address (duplicates told apart by the distance to the
 *   next System.map entry, as kallsyms does), binutils addr2line gives the chain. Return
 *   addresses (every x86 call-trace entry; arm64 entries but the first, which is the pc) are
 *   asked at addr - 1, as kdap does; the RIP/pc lines as they are.
 * - the arm64 `[dummy]` frame: `readelf -s dummy.ko` for the symbol, `addr2line -j .text`.
 * - Code: lines: the fixture tree's own scripts/decodecode (ARCH and CROSS_COMPILE set).
 * - `kdap oops decode` through dist/cli.js, text and JSON.
 * The oopsmod frames of the x86 logs cannot be checked: that module was not kept.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseLog } from '../../../src/oops/parse';
import { decodeCode } from '../../../src/oops/symbolize/decodecode';
import { liveProcessIds } from '../../../src/oops/symbolize/line-process';
import { KernelSymbolizer, type FrameResolution } from '../../../src/oops/symbolize/resolver';
import type { CodeLocation, Frame, Report } from '../../../src/oops/types';
import { loadFixtures, type Fixtures } from '../../support/fixtures';
import { logsDir, readLog, repoRoot } from './helpers';
import { run, tool } from './readelf';

let fixtures: Fixtures | undefined;
let why: string | undefined;
try {
  fixtures = loadFixtures();
} catch (err) {
  why = (err as Error).message;
}

interface MapEntry {
  address: bigint;
  name: string;
}

/** System.map → name → [{address, size}] with kallsyms-style sizes. */
function systemMap(file: string): Map<string, Array<{ address: bigint; size: bigint }>> {
  const entries: MapEntry[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const [a, type, name] = line.split(' ');
    if (name && /^[tTwW]$/.test(type)) entries.push({ address: BigInt('0x' + a), name });
  }
  entries.sort((x, y) => (x.address < y.address ? -1 : x.address > y.address ? 1 : 0));
  const out = new Map<string, Array<{ address: bigint; size: bigint }>>();
  for (let i = 0; i < entries.length; i++) {
    let j = i + 1;
    while (j < entries.length && entries[j].address === entries[i].address) j++;
    const size = j < entries.length ? entries[j].address - entries[i].address : 0n;
    const list = out.get(entries[i].name) ?? [];
    list.push({ address: entries[i].address, size });
    out.set(entries[i].name, list);
  }
  return out;
}

/** `addr2line -f -i -a` → per address the chain as `function file-suffix:line`, innermost first. */
function addr2line(program: string, object: string, addresses: bigint[], section?: string): Array<Array<{ fn: string; file: string; line: number }>> {
  const args = ['-f', '-i', '-a', '-e', object, ...(section ? ['-j', section] : []), ...addresses.map((a) => '0x' + a.toString(16))];
  const r = run(program, args);
  assert.equal(r.status, 0, r.stderr);
  const out: Array<Array<{ fn: string; file: string; line: number }>> = [];
  let fn: string | undefined;
  for (const line of r.stdout.split('\n')) {
    if (/^0x[0-9a-f]+$/.test(line)) out.push([]);
    else if (line === '') continue;
    else if (fn === undefined) fn = line;
    else {
      const m = /^(.*):(\d+|\?)(?: \(discriminator \d+\))?$/.exec(line)!;
      out[out.length - 1].push({ fn, file: m[1], line: m[2] === '?' ? 0 : Number(m[2]) });
      fn = undefined;
    }
  }
  return out;
}

const ARCHES = [
  {
    arch: 'x86_64' as const,
    addr2line: 'addr2line',
    logs: ['x86_64/null-deref.log', 'x86_64/warn.log', 'x86_64/bug.log', 'x86_64/sysrq-l.log', 'x86_64/sysrq-c-panic.log'],
  },
  {
    arch: 'arm64' as const,
    addr2line: 'aarch64-linux-gnu-addr2line',
    logs: ['arm64/debian61-cortexa57-nonfatal-null-deref-in-dummy-ko-then-sysrq-c.log', 'arm64/debian61-cortexa57-fatal-oops-panic_on_oops.log', 'arm64/debian61-cortexa57-sysrq-c-panic.log'],
  },
];

/** The return-address rule written out per arch, independently of resolver.ts. */
function expectReturnAddress(arch: string, r: Report, ref: Frame | CodeLocation): boolean {
  if (!('reliable' in ref)) return r.registerBlocks.some((b) => b.lr === ref);
  if (arch === 'arm64') {
    const section = r.sections.find((s) => s.frames.includes(ref))!;
    return !(section.frames[0] === ref && r.pc && r.pc.symbol === ref.symbol && r.pc.offset === ref.offset);
  }
  return true;
}

describe('symbolizing the captured fixture logs', { skip: why }, () => {
  const symbolizers: KernelSymbolizer[] = [];
  after(async () => {
    await Promise.all(symbolizers.map((s) => s.close()));
    assert.deepEqual(liveProcessIds(), []);
  });

  for (const a of ARCHES) {
    it(`${a.arch}: every vmlinux frame and pc equals addr2line at the System.map address`, { skip: tool(a.addr2line) ? undefined : `${a.addr2line} missing` }, async (t) => {
      const fx = fixtures!.arches[a.arch];
      const s = new KernelSymbolizer({ vmlinux: fx.vmlinux, modulePaths: [fx.debugModulesDir], sourceRoot: fixtures!.sourceRoot, idleMs: 0 });
      symbolizers.push(s);
      const map = systemMap(fx.systemMap);
      const cases: Array<{ what: string; ours: Promise<FrameResolution[] | undefined>; address: bigint }> = [];
      for (const log of a.logs) {
        for (const r of parseLog(readLog(log)).reports) {
          const refs: Array<Frame | CodeLocation> = [...r.frames, ...r.registerBlocks.flatMap((b) => [b.pc, b.lr].filter((x): x is CodeLocation => x !== undefined))];
          for (const ref of refs) {
            if (ref.module || ref.symbol === undefined || ref.offset === undefined) continue;
            const cands = (map.get(ref.symbol) ?? []).filter((c) => ref.size === undefined || c.size === ref.size);
            assert.equal(cands.length, 1, `${log}:${ref.line} ${ref.symbol} in System.map`);
            const ra = expectReturnAddress(a.arch, r, ref);
            cases.push({
              what: `${log}:${ref.line} ${ref.symbol}+0x${ref.offset.toString(16)}${ra ? ' (return address)' : ''}`,
              ours: s.resolve(ref, { arch: r.arch, release: r.release, returnAddress: ra }),
              address: cands[0].address + ref.offset - (ra ? 1n : 0n),
            });
          }
        }
      }
      const oracle = addr2line(a.addr2line, fx.vmlinux, cases.map((c) => c.address));
      const ours = await Promise.all(cases.map((c) => c.ours));
      cases.forEach((c, i) => {
        assert.equal(ours[i]?.length, 1, c.what);
        const got = ours[i]![0].positions;
        assert.deepEqual(
          got.map((p) => `${p.function} ${p.line}`),
          // `func ??:0`: known symbol, no line; kdap answers an empty chain.
          oracle[i].filter((o) => o.line > 0).map((o) => `${o.fn} ${o.line}`),
          c.what,
        );
        got.forEach((p, k) => {
          assert.ok(oracle[i][k].file.endsWith('/' + p.file), `${c.what}: ${oracle[i][k].file} ends with ${p.file}`);
          assert.ok(p.path && fs.existsSync(p.path), `${c.what}: ${p.file} is in the source tree`);
        });
      });
      t.diagnostic(`${cases.length} frames and registers compared`);
      assert.ok(cases.length > (a.arch === 'x86_64' ? 50 : 30));
    });
  }

  it('x86_64: entry_SYSCALL_64_after_hwframe (a label faddr2line 6.1 gives up on) resolves to entry_64.S', async () => {
    const fx = fixtures!.arches.x86_64;
    const s = new KernelSymbolizer({ vmlinux: fx.vmlinux, sourceRoot: fixtures!.sourceRoot, idleMs: 0 });
    symbolizers.push(s);
    const ref = { symbol: 'entry_SYSCALL_64_after_hwframe', offset: 0x6en, size: 0xd8n, module: undefined, buildId: undefined, address: undefined };
    const [res] = (await s.resolve(ref, { arch: 'x86_64', release: undefined, returnAddress: true }))!;
    assert.deepEqual([res.positions[0].file, res.positions[0].line], ['arch/x86/entry/entry_64.S', 121]);
    assert.ok(res.positions[0].path?.startsWith(fixtures!.sourceRoot), 'the absolute /build/reproducible-path prefix is mapped too');
  });

  it('arm64: the [dummy] module frame equals addr2line -j .text at the readelf address', { skip: tool('aarch64-linux-gnu-addr2line') ? undefined : 'no aarch64 addr2line' }, async () => {
    const fx = fixtures!.arches.arm64;
    const s = new KernelSymbolizer({ vmlinux: fx.vmlinux, modulePaths: [fx.debugModulesDir], sourceRoot: fixtures!.sourceRoot, idleMs: 0 });
    symbolizers.push(s);
    const [r] = parseLog(readLog('arm64/debian61-cortexa57-nonfatal-null-deref-in-dummy-ko-then-sysrq-c.log')).reports;
    const frame = r.frames.find((f) => f.module === 'dummy')!;
    const [res] = (await s.resolve(frame, { arch: 'arm64', release: r.release, returnAddress: true }))!;
    const ko = fx.modules.dummy.debug;
    const sym = run('readelf', ['-sW', ko]).stdout.split('\n').map((l) => l.trim().split(/\s+/)).find((f) => f[7] === 'dummy_get_stats64')!;
    const oracle = addr2line('aarch64-linux-gnu-addr2line', ko, [BigInt('0x' + sym[1]) + frame.offset! - 1n], '.text');
    assert.equal(res.object, ko);
    assert.equal(res.section, '.text');
    assert.deepEqual(res.positions.map((p) => `${p.function} ${p.line}`), oracle[0].map((o) => `${o.fn} ${o.line}`));
    assert.deepEqual([res.positions.at(-1)!.file, res.positions.at(-1)!.line], ['drivers/net/dummy.c', 56]);
  });

  const decodecode = fixtures ? path.join(fixtures.sourceRoot, 'scripts', 'decodecode') : '';
  it('Code: lines disassemble as the tree’s scripts/decodecode does', { skip: fixtures && fs.existsSync(decodecode) ? undefined : 'no scripts/decodecode' }, async () => {
    let compared = 0;
    for (const a of ARCHES) {
      const env = { ...process.env, ARCH: a.arch, CROSS_COMPILE: a.arch === 'arm64' ? 'aarch64-linux-gnu-' : '' };
      for (const log of a.logs) {
        const text = readLog(log);
        const lines = text.split('\n');
        for (const r of parseLog(text).reports) {
          for (const b of r.registerBlocks) {
            const c = b.code;
            if (!c || c.words.length === 0 || c.faultIndex < 0) continue;
            const ours = (await decodeCode(c, r.arch))!;
            const script = spawnSync(decodecode, [], { input: lines.slice(c.line - 1, c.endLine).join('\n') + '\n', env, encoding: 'utf8' });
            const marked = /^\s*[0-9a-f]+:\*\t[0-9a-f ]+\s*\t(.*?)\t\t<-- trapping instruction$/m.exec(script.stdout);
            assert.ok(marked, `${log}:${c.line} decodecode marked an instruction:\n${script.stdout}${script.stderr}`);
            const norm = (s: string) => s.replace(/\s+/g, ' ').trim();
            assert.equal(norm(ours.all.find((i) => i.trapping)!.text), norm(marked[1]), `${log}:${c.line} All code`);
            const starting = script.stdout.split('===========================================\n')[1].trim().split('\n');
            const first = /^\s*0:\t[0-9a-f ]+\s*\t(.*)$/.exec(starting[0])!;
            assert.equal(norm(ours.trapping!.text), norm(first[1]), `${log}:${c.line} from the faulting instruction`);
            assert.deepEqual(
              ours.fromFault.map((i) => norm(i.text)),
              starting.filter((l) => /^\s*[0-9a-f]+:\t/.test(l) && l.split('\t').length > 2).map((l) => norm(l.split('\t').slice(2).join(' '))),
              `${log}:${c.line} listing`,
            );
            compared++;
          }
        }
      }
    }
    assert.ok(compared >= 8, `${compared} Code: lines`);
  });

  it('kdap oops decode (dist/cli.js): decoded text and JSON locations', () => {
    const cli = path.join(repoRoot, 'dist', 'cli.js');
    if (!fs.existsSync(cli) || !fs.readFileSync(cli, 'utf8').includes('oops decode')) {
      const b = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs')], { cwd: repoRoot, encoding: 'utf8' });
      assert.equal(b.status, 0, b.stderr);
    }
    const fx = fixtures!.arches.arm64;
    const log = path.join(logsDir, 'arm64/debian61-cortexa57-nonfatal-null-deref-in-dummy-ko-then-sysrq-c.log');
    const base = ['oops', 'decode', '--vmlinux', fx.vmlinux, '--module-path', fx.debugModulesDir, '--source-root', fixtures!.sourceRoot];
    const text = spawnSync(process.execPath, [cli, ...base, log], { encoding: 'utf8' });
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^\[ {4}6\.624826\] {2}dummy_get_stats64\+0x20\/0x30 \[dummy\] \(drivers\/net\/dummy\.c:56\)$/m);
    assert.match(text.stdout, /^\[ {4}6\.626188\] {2}pde_read \(fs\/proc\/inode\.c:316\) \[inline\]$/m);
    assert.match(text.stdout, /^ {2}10:\*\tf9428aa3 \tldr\tx3, \[x21, #1296\]\t\t<-- trapping instruction$/m);
    const json = spawnSync(process.execPath, [cli, ...base, '--json', log], { encoding: 'utf8' });
    assert.equal(json.status, 0, json.stderr);
    const out = JSON.parse(json.stdout) as { reports: Array<{ frames: Array<{ symbol: string; returnAddress: boolean; locations: Array<{ function: string; file: string; line: number; inlined: boolean }> }>; pc: { locations: unknown[] } }> };
    const frames = out.reports[0].frames;
    const [pc] = frames[0].locations as Array<{ column?: number }>;
    assert.equal(typeof pc.column, 'number', 'llvm-symbolizer adds columns');
    assert.deepEqual(frames[0].locations, [{ function: 'dev_lstats_read', file: 'drivers/net/loopback.c', line: 107, column: pc.column, inlined: false, path: path.join(fixtures!.sourceRoot, 'drivers/net/loopback.c') }]);
    assert.equal(frames[0].returnAddress, false);
    const read = frames.find((f) => f.symbol === 'proc_reg_read')!;
    assert.deepEqual(
      read.locations.map((l) => [l.function, l.file, l.line, l.inlined]),
      [
        ['pde_read', 'fs/proc/inode.c', 316, true],
        ['proc_reg_read', 'fs/proc/inode.c', 328, false],
      ],
    );
    assert.equal(read.returnAddress, true);
  });
});
