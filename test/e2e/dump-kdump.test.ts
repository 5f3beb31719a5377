/**
 * A real kdump of the x86_64 fixture kernel (KASLR on, sysrq-c panic, capture kernel running
 * makedumpfile), in every form scripts/fixtures-dumps.sh keeps: the ELF /proc/vmcore copy,
 * makedumpfile -c -d 31 as the capture kernel wrote it (flattened) and rearranged, and -l,
 * -E and unfiltered -c conversions. Checked against the first kernel's console and System.map.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { openDump } from '../../src/dump/dump';
import { NotInDumpError, WrongDumpError } from '../../src/dump/errors';
import type { KdumpMemory } from '../../src/dump/kdump';
import { checkSameKernel, vmlinuxIdentity } from '../../src/dump/identity';
import { DumpTarget } from '../../src/dump/target';
import { listModules } from '../../src/kernel/module';
import { formatRecords, printkRecords } from '../../src/kernel/printk';
import { archFixture } from '../support/fixtures';
import { dumpFixture, GdbDebugInfo, type DumpFixture } from './dump-support';

/** System.map as sorted text symbols, to name the function a PC is in. */
function textSymbols(file: string): Array<{ address: bigint; name: string }> {
  return fs.readFileSync(file, 'utf8').split('\n')
    .map((l) => l.split(' '))
    .filter((p) => p.length === 3 && /^[tTwW]$/.test(p[1]))
    .map((p) => ({ address: BigInt(`0x${p[0]}`), name: p[2] }))
    .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

function functionAt(symbols: ReturnType<typeof textSymbols>, pc: bigint): string | undefined {
  let lo = 0;
  let hi = symbols.length - 1;
  if (hi < 0 || pc < symbols[0].address) return undefined;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (symbols[mid].address <= pc) lo = mid;
    else hi = mid - 1;
  }
  return symbols[lo].name;
}

describe('a real kdump of the x86_64 fixture kernel', () => {
  const fx = dumpFixture('x86_64', 'kdump');
  const fixture = archFixture('x86_64');
  let debug: GdbDebugInfo;
  before(async () => {
    if ('missing' in fx) return;
    debug = await GdbDebugInfo.open(fixture.vmlinux, 'x86_64');
  });
  after(async () => debug?.close());

  test('fixture present', () => {
    assert.ok(!('missing' in fx), 'missing' in fx ? fx.missing : '');
  });
  if ('missing' in fx) return;
  const f = fx as DumpFixture;
  const symbols = textSymbols(fixture.systemMap);

  for (const [name, file] of Object.entries(f.files)) {
    test(`${name}: the panic on one CPU, KASLR, banner, modules, dmesg`, async () => {
      const dump = openDump(file);
      try {
        const target = new DumpTarget(dump, { debugInfo: debug });
        assert.equal(dump.producer, 'kdump');
        assert.ok(dump.vmcoreinfo?.crashTime, 'VMCOREINFO has CRASHTIME');
        const offset = await target.kernelOffset();
        assert.notEqual(offset, 0n, 'the first kernel ran with KASLR');
        await checkSameKernel(target, await vmlinuxIdentity(fixture.vmlinux));
        const banner = await target.readVirtual((await target.symbol('linux_banner'))!, f.truths.banner.length);
        assert.equal(Buffer.from(banner).toString('latin1'), f.truths.banner);

        // sysrq-c from /init (pid 1): panic() → __crash_kexec() saved that CPU's registers there;
        // the other CPU was stopped by an NMI wherever it was, in kernel text.
        const where = await Promise.all(dump.cpus.map(async (c) => {
          const r = await target.registers(c.cpu, ['rip', 'rsp']);
          return { cpu: c.cpu, pid: c.pid, fn: functionAt(symbols, r.get('rip')! - offset), rsp: r.get('rsp')! };
        }));
        const panicking = where.filter((w) => w.fn === '__crash_kexec' || w.fn === 'crash_kexec');
        assert.equal(panicking.length, 1, `one CPU in __crash_kexec: ${JSON.stringify(where, (_, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))}`);
        assert.equal(panicking[0].pid, 1, 'the panicking CPU ran /init');
        for (const w of where) {
          assert.ok(w.fn, `CPU ${w.cpu}'s PC is in kernel text`);
          assert.ok(w.rsp >= 0xffff800000000000n, `CPU ${w.cpu}'s SP is a kernel address`);
        }

        const modules = await listModules(target);
        assert.deepEqual(modules.map((m) => m.name), f.truths.modules.map((l) => l.split(' ')[0]));
        const kdap = modules.find((m) => m.name === 'kdap_test')!;
        for (const [section, address] of Object.entries(f.truths.sections)) {
          if (!kdap.freedSections.includes(section)) assert.equal(kdap.sections.get(section), BigInt(address), `kdap_test ${section}`);
        }

        // The guest's dmesg tail comes before the panic's own lines in the dump's log.
        const lines = formatRecords((await printkRecords(target)).records).trimEnd().split('\n');
        const last = f.truths.dmesg[f.truths.dmesg.length - 1];
        const at = lines.indexOf(last);
        assert.ok(at >= 0, `the guest's last dmesg line is in the dump's log: ${last}`);
        assert.deepEqual(lines.slice(at - f.truths.dmesg.length + 1, at + 1), f.truths.dmesg);
        assert.ok(lines.slice(at + 1).some((l) => /Kernel panic - not syncing: sysrq triggered crash/.test(l)), 'the panic is logged after them');
        if (f.crashLog && name === 'vmcore-c-d31') {
          const crash = f.crashLog.trimEnd().split('\n').filter((l) => /^\[/.test(l));
          const ours = lines.filter((l) => crash.includes(l));
          assert.ok(ours.length >= lines.length - 40, `crash's log has ${ours.length} of kdap's ${lines.length} lines`);
        }
      } finally {
        dump.close();
      }
    });
  }

  test('filtered (-d 31) pages are "not in this dump" through physical and virtual reads, never zeros', async () => {
    const dump = openDump(f.files['vmcore-c-d31']);
    try {
      const target = new DumpTarget(dump, { debugInfo: debug });
      const memory = dump.memory as KdumpMemory;
      let filtered: bigint | undefined;
      for (const r of dump.memory.ranges) {
        for (let pa = r.start; pa < r.end && filtered === undefined; pa += 0x1000n) if (memory.holds(pa) === 'filtered') filtered = pa;
      }
      assert.ok(filtered !== undefined, 'a -d 31 dump of a booted guest leaves free pages out');
      await assert.rejects(target.readPhysical(filtered + 8n, 8), (e) => e instanceof NotInDumpError && /not in this dump: physical 0x[0-9a-f]+ was filtered out .*dump level 31/.test(e.message));
      // The same page through the direct map.
      const pob = await target.readVirtual((await target.symbol('page_offset_base'))!, 8);
      const base = new DataView(pob.buffer, pob.byteOffset).getBigUint64(0, true);
      await assert.rejects(target.readVirtual(base + filtered, 16), NotInDumpError);
      // The unfiltered dump of the same vmcore has that page.
      const full = openDump(f.files['vmcore-c-d0']);
      try {
        assert.equal((await new DumpTarget(full, { debugInfo: debug }).readPhysical(filtered, 8)).length, 8);
      } finally {
        full.close();
      }
    } finally {
      dump.close();
    }
  });

  test('another kernel\'s vmlinux is refused, both named', async () => {
    const dump = openDump(f.files['vmcore-c-d31']);
    try {
      const target = new DumpTarget(dump, { debugInfo: debug });
      const other = archFixture('arm64').vmlinux;
      await assert.rejects(checkSameKernel(target, await vmlinuxIdentity(other)), (e) => {
        assert.ok(e instanceof WrongDumpError);
        assert.match(e.message, new RegExp(`build id ${dump.vmcoreinfo!.buildId}`));
        assert.ok(e.message.includes(other), e.message);
        return true;
      });
    } finally {
      dump.close();
    }
  });
});
