/**
 * Crash logs captured now, from the fixture kernels and our test module (WARN, Oops, BUG: one
 * boot per architecture), symbolized by kdap and checked frame by frame against independent
 * oracles:
 *
 * - every module frame: the fixture tree's `scripts/faddr2line` on kdap_test.ko;
 * - every vmlinux frame: binutils addr2line at the System.map address; a few of them also
 *   through `scripts/faddr2line vmlinux` (about 1.5–2.5 s per frame, so only a handful);
 * - the faulting pc of each report: the tagged source line of kdap_test.c it must land on;
 * - every `Code:` line: the tree's `scripts/decodecode` for the trapping instruction.
 *
 * Return addresses are compared at `off - 1` (faddr2line accepts any offset), the pc as is. Which
 * frames are return addresses is decided without kdap: the printed pc is not one; any other
 * address is one when objdump's disassembly of its function shows a call instruction ending
 * exactly there (test/support/disasm.ts). kdap's own decision must agree.
 * Where the kernel's scripts are wrong, kdap must be right, and the test shows both:
 * `entry_SYSCALL_64_after_hwframe` (faddr2line 6.1: "no match"), and `.text.unlikely`
 * functions of a module (decode_stacktrace.sh looks them up in `.text`).
 * The captured logs and the decoded copies are kept in test-artifacts/e2e/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { QemuProcess } from '../../src/engine/qemu';
import { parseLog } from '../../src/oops/parse';
import { decodedText, decodeLog } from '../../src/oops/symbolize/decode';
import { decodeCode } from '../../src/oops/symbolize/decodecode';
import { liveProcessIds } from '../../src/oops/symbolize/line-process';
import { isReturnAddress, KernelSymbolizer, type FrameResolution } from '../../src/oops/symbolize/resolver';
import type { CodeLocation, Frame, Report } from '../../src/oops/types';
import { repoRoot } from '../support/dap';
import { fixtureArches, loadFixtures, type ArchFixture, type FixtureArch } from '../support/fixtures';
import { followsCall } from '../support/disasm';
import { GuestConsole } from '../support/guest';

const BOOT_TIMEOUT_MS = 180_000;
const fixtures = loadFixtures();
const artifacts = path.join(repoRoot, 'test-artifacts', 'e2e');

interface Oracle {
  fn: string;
  file: string;
  line: number;
}

function env(fx: ArchFixture, arch: FixtureArch): NodeJS.ProcessEnv {
  return { ...process.env, ARCH: arch, CROSS_COMPILE: fx.crossCompile };
}

/** `scripts/faddr2line OBJ func+off/size …` → per argument its candidates' chains (or 'no match'). */
function faddr2line(fx: ArchFixture, arch: FixtureArch, object: string, specs: string[]): Map<string, Oracle[][] | 'no match'> {
  const script = path.join(fixtures.sourceRoot, 'scripts', 'faddr2line');
  const r = spawnSync(script, [object, ...specs], { env: env(fx, arch), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const out = new Map<string, Oracle[][] | 'no match'>();
  let current: Oracle[][] | undefined;
  for (const line of (r.stdout + '\n' + r.stderr).split('\n')) {
    const head = /^(\S+\+0x[0-9a-f]+\/0x[0-9a-f]+):$/.exec(line);
    if (head) {
      const list = out.get(head[1]);
      current = list && list !== 'no match' ? list : [];
      current.push([]);
      out.set(head[1], current);
      continue;
    }
    const none = /no match for (\S+)/.exec(line);
    if (none) out.set(none[1], 'no match');
    const pos = /^(?:\(inlined by\) )?(\S+) at (.*):(\d+)(?: \(discriminator \d+\))?$/.exec(line.trim());
    if (pos && current) current[current.length - 1].push({ fn: pos[1], file: pos[2], line: Number(pos[3]) });
  }
  return out;
}

/** System.map name → [{address, size}] (size: distance to the next higher entry, as kallsyms). */
function systemMap(file: string): Map<string, Array<{ address: bigint; size: bigint }>> {
  const entries = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f.length === 3 && /^[tTwW]$/.test(f[1]))
    .map((f) => ({ address: BigInt('0x' + f[0]), name: f[2] }))
    .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  const out = new Map<string, Array<{ address: bigint; size: bigint }>>();
  entries.forEach((e, i) => {
    let j = i + 1;
    while (j < entries.length && entries[j].address === e.address) j++;
    const list = out.get(e.name) ?? [];
    list.push({ address: e.address, size: j < entries.length ? entries[j].address - e.address : 0n });
    out.set(e.name, list);
  });
  return out;
}

function addr2line(program: string, object: string, addresses: bigint[]): Oracle[][] {
  const r = spawnSync(program, ['-f', '-i', '-a', '-e', object, ...addresses.map((a) => '0x' + a.toString(16))], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(r.status, 0, r.stderr);
  const out: Oracle[][] = [];
  let fn: string | undefined;
  for (const line of r.stdout.split('\n')) {
    if (/^0x[0-9a-f]+$/.test(line)) out.push([]);
    else if (line === '') continue;
    else if (fn === undefined) fn = line;
    else {
      const m = /^(.*):(\d+|\?)(?: \(discriminator \d+\))?$/.exec(line)!;
      if (m[2] !== '?' && m[2] !== '0') out[out.length - 1].push({ fn, file: m[1], line: Number(m[2]) });
      fn = undefined;
    }
  }
  return out;
}

/** `objdump -t` of a .ko: each function's section and offset in it. */
function functionsOf(objdump: string, ko: string): Map<string, { section: string; value: bigint }> {
  const r = spawnSync(objdump, ['-t', ko], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = new Map<string, { section: string; value: bigint }>();
  for (const line of r.stdout.split('\n')) {
    const m = /^([0-9a-f]+)\s.{6}F\s(\S+)\s+[0-9a-f]+\s+(\S+)$/.exec(line);
    if (m) out.set(m[3], { section: m[2], value: BigInt('0x' + m[1]) });
  }
  return out;
}

/**
 * The report's printed pc (`RIP:` / `pc :`), or a trace frame at its place (arm64 starts a trace
 * taken from pt_regs at the pc). A printed `lr :` at the same place is not: the CPU was there,
 * and LR says how it got there.
 */
function isPrintedPc(r: Report, ref: Frame | CodeLocation): boolean {
  if (r.registerBlocks.some((b) => b.lr === ref)) return false;
  return r.registerBlocks.some((b) => b.pc === ref || (b.pc?.symbol === ref.symbol && b.pc?.offset === ref.offset && b.pc?.module === ref.module));
}

const hex = (v: bigint) => '0x' + v.toString(16);
const chain = (r: FrameResolution) => r.positions.map((p) => `${p.function} ${p.line}`);
const oracleChain = (o: Oracle[]) => o.map((p) => `${p.fn} ${p.line}`);

function refs(r: Report): Array<Frame | CodeLocation> {
  return [...r.frames, ...r.registerBlocks.flatMap((b) => [b.pc, b.lr].filter((x): x is CodeLocation => x !== undefined))].filter(
    (x) => x.symbol !== undefined && x.offset !== undefined && !('inlined' in x && x.inlined),
  );
}

for (const arch of fixtureArches) {
  describe(`symbolizing real ${arch} crash reports of kdap_test`, { concurrency: false }, () => {
    const fx = fixtures.arches[arch];
    const koDir = path.dirname(fx.kmod.ko);
    const logs: Record<'warn' | 'oops' | 'bug', string> = { warn: '', oops: '', bug: '' };
    let qemu: QemuProcess | undefined;
    let symbolizer: KernelSymbolizer;

    before(async () => {
      qemu = await QemuProcess.start({ arch, kernel: fx.kernel, initrd: fx.initrd, append: fx.append, machine: fx.machine, cpu: fx.cpu, smp: 2, memory: '512M', gdb: false });
      const guest = new GuestConsole(qemu, fixtures.guest.prompt);
      const ready = await guest.waitFor(new RegExp(`${fixtures.guest.readyMarker} release=(\\S+)`), BOOT_TIMEOUT_MS);
      await guest.waitForPrompt(BOOT_TIMEOUT_MS, ready.end);
      await guest.sh(`insmod ${fx.kmod.guestPath}`);
      logs.warn = await guest.crash(`echo w > ${fx.kmod.procFile}`);
      logs.oops = await guest.crash(`sh -c 'echo o > ${fx.kmod.procFile}'`);
      // Last: on arm64 a BUG() leaves the CPU's context tracking unbalanced (see boot.test.ts).
      logs.bug = await guest.crash(`sh -c 'echo b > ${fx.kmod.procFile}'`);
      await qemu.kill();
      qemu = undefined;
      fs.mkdirSync(artifacts, { recursive: true });
      for (const [kind, text] of Object.entries(logs)) fs.writeFileSync(path.join(artifacts, `oops-${arch}-${kind}.log`), text);
      symbolizer = new KernelSymbolizer({ vmlinux: fx.vmlinux, modulePaths: [koDir, fx.debugModulesDir], sourceRoot: fixtures.sourceRoot, idleMs: 0 });
    });

    after(async () => {
      await qemu?.kill();
      await symbolizer?.close();
    });

    const report = (kind: keyof typeof logs): Report => {
      const want = { warn: 'warning', oops: 'null-deref', bug: 'bug' }[kind];
      const r = parseLog(logs[kind]).reports.find((x) => x.kind === want);
      assert.ok(r, `a ${want} report in\n${logs[kind]}`);
      return r;
    };

    const resolve = async (r: Report, ref: Frame | CodeLocation) => {
      const res = await symbolizer.resolve(ref, { arch: r.arch, release: r.release, returnAddress: isReturnAddress(r, ref) });
      assert.ok(res && res.length >= 1, `${ref.symbol}+${hex(ref.offset!)} resolved (${symbolizer.problems().join('; ')})`);
      return res;
    };

    test('the faulting pc of each report is the tagged line of kdap_test.c', async () => {
      for (const [kind, tag] of [
        ['warn', 'warn'],
        ['oops', 'oops'],
        ['bug', 'bug'],
      ] as const) {
        const r = report(kind);
        assert.ok(r.pc?.module === 'kdap_test', `${kind}: pc in kdap_test (${r.pc?.symbol})`);
        const [res] = await resolve(r, r.pc!);
        const innermost = res.positions[0];
        // arm64 GCC gives the faulting load of `return victim->value;` the line of the closing
        // brace (it shares the epilogue); the DWARF says so, and faddr2line agrees (next test).
        const lines = arch === 'arm64' && kind === 'oops' ? [fx.kmod.lines[tag], fx.kmod.lines[tag] + 1] : [fx.kmod.lines[tag]];
        assert.equal(innermost.path, fx.kmod.sourceFile, `${kind}: ${JSON.stringify(res.positions)}`);
        assert.ok(lines.includes(innermost.line), `${kind}: line ${innermost.line}, want ${lines.join(' or ')}`);
        assert.equal(res.returnAddress, false);
      }
    });

    const objdump = arch === 'arm64' ? 'aarch64-linux-gnu-objdump' : 'objdump';

    test('every module frame equals scripts/faddr2line on kdap_test.ko (at off - 1 for return addresses)', async (t) => {
      const cases: Array<{ spec: string; res: FrameResolution[] }> = [];
      const functions = functionsOf(objdump, fx.kmod.ko);
      let returns = 0;
      for (const kind of ['warn', 'oops', 'bug'] as const) {
        const r = report(kind);
        for (const ref of refs(r).filter((x) => x.module === 'kdap_test')) {
          const res = await resolve(r, ref);
          const fn = functions.get(ref.symbol!);
          assert.ok(fn, `${ref.symbol} is a function of ${fx.kmod.ko}`);
          const call = isPrintedPc(r, ref) ? { returnAddress: false } : followsCall({ objdump, file: fx.kmod.ko, section: fn.section, start: fn.value }, fn.value + ref.offset!);
          assert.equal(res[0].returnAddress, call.returnAddress, `${kind}: ${ref.symbol}+${hex(ref.offset!)}: kdap says${res[0].returnAddress ? '' : ' not'} a return address; objdump${call.returnAddress ? '' : ' not'} (before it: ${'before' in call && call.before ? call.before.text : 'nothing'})`);
          if (call.returnAddress) returns++;
          const off = ref.offset! - (call.returnAddress ? 1n : 0n);
          cases.push({ spec: `${ref.symbol}+${hex(off)}/${hex(ref.size!)}`, res });
        }
      }
      assert.ok(returns > 0, 'some module frames are return addresses');
      const oracle = faddr2line(fx, arch, fx.kmod.ko, [...new Set(cases.map((c) => c.spec))]);
      for (const c of cases) {
        const o = oracle.get(c.spec);
        assert.ok(o && o !== 'no match', `faddr2line answered ${c.spec}`);
        assert.deepEqual(c.res.map(chain), o.map(oracleChain), c.spec);
        c.res[0].positions.forEach((p, i) => assert.equal(p.path ?? p.file, o[0][i].file, `${c.spec} file`));
      }
      t.diagnostic(`${cases.length} module frames: ${cases.map((c) => c.spec).join(' ')}`);
      assert.ok(cases.length >= 6);
    });

    test('every vmlinux frame equals addr2line at its System.map address; a few equal scripts/faddr2line', async (t) => {
      const map = systemMap(fx.systemMap);
      const a2l = arch === 'arm64' ? 'aarch64-linux-gnu-addr2line' : 'addr2line';
      const cases: Array<{ what: string; spec: string; address: bigint; res: FrameResolution[] }> = [];
      const decided = new Map<bigint, boolean>();
      for (const kind of ['warn', 'oops', 'bug'] as const) {
        const r = report(kind);
        for (const ref of refs(r).filter((x) => !x.module)) {
          const res = await resolve(r, ref);
          const cands = (map.get(ref.symbol!) ?? []).filter((c) => ref.size === undefined || c.size === ref.size);
          assert.equal(cands.length, 1, `${ref.symbol} in System.map`);
          const at = cands[0].address + ref.offset!;
          let returnAddress = false;
          if (!isPrintedPc(r, ref)) {
            if (!decided.has(at)) decided.set(at, followsCall({ objdump, file: fx.vmlinux, start: cands[0].address }, at).returnAddress);
            returnAddress = decided.get(at)!;
          }
          assert.equal(res[0].returnAddress, returnAddress, `${kind}:${ref.line} ${ref.symbol}+${hex(ref.offset!)}: kdap says${res[0].returnAddress ? '' : ' not'} a return address, objdump${returnAddress ? '' : ' not'}`);
          const off = ref.offset! - (returnAddress ? 1n : 0n);
          cases.push({ what: `${kind}:${ref.line} ${ref.symbol}`, spec: `${ref.symbol}+${hex(off)}/${hex(ref.size!)}`, address: cands[0].address + off, res });
        }
      }
      const oracle = addr2line(a2l, fx.vmlinux, cases.map((c) => c.address));
      cases.forEach((c, i) => {
        assert.equal(c.res.length, 1, c.what);
        assert.deepEqual(chain(c.res[0]), oracleChain(oracle[i]), `${c.what} (${c.spec})`);
        c.res[0].positions.forEach((p, k) => assert.ok(oracle[i][k].file.endsWith('/' + p.file), `${c.what}: ${oracle[i][k].file} vs ${p.file}`));
      });
      // faddr2line reads the whole symbol table per frame: three of them, with inline chains if any.
      const sample = [...new Map(cases.filter((c) => !c.spec.startsWith('entry_SYSCALL_64_after_hwframe')).map((c) => [c.spec, c])).values()]
        .sort((x, y) => y.res[0].positions.length - x.res[0].positions.length)
        .slice(0, 3);
      const started = Date.now();
      const slow = faddr2line(fx, arch, fx.vmlinux, sample.map((c) => c.spec));
      for (const c of sample) {
        const o = slow.get(c.spec);
        assert.ok(o && o !== 'no match', `faddr2line ${c.spec}`);
        assert.deepEqual(c.res.map(chain), o.map(oracleChain), `faddr2line ${c.spec}`);
        c.res[0].positions.forEach((p, k) => assert.ok(o[0][k].file.endsWith(p.file), `${c.spec}: ${o[0][k].file} vs ${p.file}`));
      }
      t.diagnostic(`${cases.length} vmlinux frames vs addr2line; ${sample.map((c) => c.spec).join(' ')} vs faddr2line in ${Date.now() - started} ms`);
      assert.ok(cases.length >= 20);
    });

    if (arch === 'x86_64') {
      test('entry_SYSCALL_64_after_hwframe: faddr2line finds no match, kdap resolves it to entry_64.S', async () => {
        const r = report('oops');
        const f = r.frames.find((x) => x.symbol === 'entry_SYSCALL_64_after_hwframe');
        assert.ok(f, 'the Oops came from a write() syscall');
        const spec = `${f.symbol}+${hex(f.offset! - 1n)}/${hex(f.size!)}`;
        assert.equal(faddr2line(fx, arch, fx.vmlinux, [spec]).get(spec), 'no match');
        const [res] = await resolve(r, f);
        const p = res.positions[0];
        assert.deepEqual([p.function, p.file], ['entry_SYSCALL_64_after_hwframe', 'arch/x86/entry/entry_64.S']);
        assert.ok(p.path?.startsWith(fixtures.sourceRoot));
        const a2l = addr2line('addr2line', fx.vmlinux, [systemMap(fx.systemMap).get(f.symbol!)![0].address + f.offset! - 1n]);
        assert.equal(p.line, a2l[0][0].line);
      });
    }

    test('.text.unlikely functions: decode_stacktrace.sh names the wrong line, kdap the one faddr2line gives', async () => {
      const script = path.join(fixtures.sourceRoot, 'scripts', 'decode_stacktrace.sh');
      const size = spawnSync('nm', ['-S', fx.kmod.ko], { encoding: 'utf8' }).stdout;
      const cold = /^[0-9a-f]+ ([0-9a-f]+) t kdap_test_cold$/im.exec(size) ?? /^[0-9a-f]+ ([0-9a-f]+) T kdap_test_cold$/m.exec(size);
      assert.ok(cold, 'kdap_test_cold is in the module');
      // An offset on the pr_info() line: past the entry nops and PAC/frame setup on arm64.
      const off = arch === 'arm64' ? '0x10' : '0x5';
      const line = ` kdap_test_cold+${off}/0x${cold[1].replace(/^0+/, '')} [kdap_test]`;
      const [r] = parseLog(`Call Trace:\n${line}\n`).reports;
      const [res] = (await symbolizer.resolve(r.frames[0], { arch, release: fx.release, returnAddress: false }))!;
      assert.equal(res.section, '.text.unlikely');
      const spec = `kdap_test_cold+${off}/0x${cold[1].replace(/^0+/, '')}`;
      const oracle = faddr2line(fx, arch, fx.kmod.ko, [spec]).get(spec);
      assert.ok(oracle && oracle !== 'no match');
      assert.deepEqual(chain(res), oracleChain(oracle[0]));
      assert.equal(res.positions.at(-1)!.line, fx.kmod.lines.cold);
      const d = spawnSync(script, [fx.vmlinux, fixtures.sourceRoot, koDir], { input: line + '\n', env: env(fx, arch), encoding: 'utf8' });
      const decoded = /\(([^)]*kdap_test\.c:(\d+)[^)]*)\)/.exec(d.stdout);
      assert.ok(decoded, `decode_stacktrace.sh output: ${d.stdout}${d.stderr}`);
      assert.notEqual(Number(decoded[2]), fx.kmod.lines.cold, `decode_stacktrace.sh: ${d.stdout.trim()}`);
    });

    test('Code: lines: the trapping instruction is the one scripts/decodecode marks', async () => {
      const decodecode = path.join(fixtures.sourceRoot, 'scripts', 'decodecode');
      let compared = 0;
      for (const kind of ['warn', 'oops', 'bug'] as const) {
        const r = report(kind);
        const lines = logs[kind].split('\n');
        for (const b of r.registerBlocks) {
          const c = b.code;
          if (!c || c.faultIndex < 0) continue;
          const ours = (await decodeCode(c, r.arch))!;
          const out = spawnSync(decodecode, [], { input: lines.slice(c.line - 1, c.endLine).join('\n') + '\n', env: env(fx, arch), encoding: 'utf8' }).stdout;
          const marked = /^\s*[0-9a-f]+:\*\t[0-9a-f ]+\s*\t(.*?)\t\t<-- trapping instruction$/m.exec(out);
          assert.ok(marked, `${kind}: decodecode marks an instruction\n${out}`);
          const norm = (s: string) => s.replace(/\s+/g, ' ').trim();
          assert.equal(norm(ours.all.find((i) => i.trapping)!.text), norm(marked[1]), `${kind} All code`);
          const first = /Code starting with the faulting instruction\n=+\n\s*0:\t[0-9a-f ]+\s*\t(.*)/.exec(out);
          assert.equal(norm(ours.trapping!.text), norm(first![1]), `${kind} from the fault`);
          compared++;
        }
      }
      // x86 prints Code: for WARN, BUG and the Oops; arm64 only where it dies (Oops, BUG).
      assert.ok(compared >= (arch === 'arm64' ? 2 : 3), `${compared} Code: lines`);
    });

    test('the decoded copy keeps every line and parses back to the same frames', async () => {
      const text = logs.oops;
      const log = parseLog(text);
      const decoded = await decodeLog(log, symbolizer);
      const out = decodedText(text, decoded);
      fs.writeFileSync(path.join(artifacts, `oops-${arch}-oops.decoded.log`), out);
      for (const l of text.split('\n')) if (l.trim()) assert.ok(out.includes(l.split('  ')[0]), `kept: ${l}`);
      const again = parseLog(out).reports.find((x) => x.kind === 'null-deref')!;
      const real = again.frames.filter((f) => !f.inlined);
      assert.deepEqual(
        real.map((f) => `${f.symbol}+${f.offset}`),
        report('oops').frames.map((f) => `${f.symbol}+${f.offset}`),
      );
      assert.ok(real.every((f) => f.source && f.source.length === 1), 'each frame carries its (file:line)');
      assert.match(out, /<-- trapping instruction/);
    });

    test('no helper process is left once the symbolizer is closed', async () => {
      const procs = await symbolizer.processes();
      assert.ok(procs.length >= 2, 'llvm-symbolizer for vmlinux and addr2line for module sections ran');
      await symbolizer.close();
      assert.deepEqual(liveProcessIds(), []);
    });
  });
}
