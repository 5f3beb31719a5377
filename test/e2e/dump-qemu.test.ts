/**
 * QEMU dumps of the fixture kernels (scripts/fixtures-dumps.sh), every format, both arches,
 * against what the guest and QEMU's monitor said before the dump: registers from `info
 * registers`, walks from `gva2gpa`, the banner and uname, /proc/modules, the kdap_test module's
 * /sys/module sections, the tail of dmesg, and crash's `log` of the same dump.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openDump, type Dump } from '../../src/dump/dump';
import { checkSameKernel, vmlinuxIdentity } from '../../src/dump/identity';
import { DumpTarget } from '../../src/dump/target';
import { listModules } from '../../src/kernel/module';
import { walk } from '../../src/kernel/pagetable';
import { formatRecords, printkRecords } from '../../src/kernel/printk';
import { cString, member, structLayout, symbolAddress } from '../../src/kernel/struct';
import { archFixture, fixtureArches } from '../support/fixtures';
import { dumpFixture, GdbDebugInfo, type DumpFixture } from './dump-support';

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** The guest's `uname -a`, rebuilt from init_uts_ns in the dump. */
async function unameOf(target: DumpTarget): Promise<string> {
  const ns = await structLayout(target, 'uts_namespace');
  const uts = await structLayout(target, 'new_utsname');
  const base = (await symbolAddress(target, 'init_uts_ns')) + BigInt(member(ns, 'name').offset);
  const field = async (name: string) => {
    const m = member(uts, name);
    return cString(await target.readVirtual(base + BigInt(m.offset), m.size));
  };
  return [await field('sysname'), await field('nodename'), await field('release'), await field('version'), await field('machine')].join(' ');
}

/** `dmesg`'s lines (busybox pads timestamps the same way) must end kdap's, in order. */
function assertLogTail(ours: string[], theirs: string[], what: string): void {
  const last = theirs[theirs.length - 1];
  const at = ours.lastIndexOf(last);
  assert.ok(at >= 0, `${what}: its last line is not in kdap's log: ${last}`);
  assert.deepEqual(ours.slice(at - theirs.length + 1, at + 1), theirs, what);
  assert.ok(ours.length - 1 - at <= 3, `kdap's log has ${ours.length - 1 - at} records after ${what}'s last: ${ours.slice(at + 1).join(' | ')}`);
}

/** crash's `log` indents a record's continuation lines where dmesg repeats the timestamp. */
function crashLines(text: string): string[] {
  let prefix = '';
  return text.trimEnd().split('\n').map((l) => {
    const m = /^(\[\s*\d+\.\d+\]) /.exec(l);
    if (m) prefix = m[1];
    return m || !l.startsWith(' '.repeat(prefix.length + 1)) ? l : `${prefix} ${l.slice(prefix.length + 1)}`;
  });
}

for (const arch of fixtureArches) {
  describe(`QEMU dumps of the ${arch} fixture kernel`, () => {
    const fx = dumpFixture(arch, 'qemu');
    let debug: GdbDebugInfo;
    before(async () => {
      if ('missing' in fx) return;
      debug = await GdbDebugInfo.open(archFixture(arch).vmlinux, arch);
    });
    after(async () => debug?.close());

    test('fixture present', () => {
      assert.ok(!('missing' in fx), 'missing' in fx ? fx.missing : '');
    });
    if ('missing' in fx) return;
    const f = fx as DumpFixture;

    for (const [name, file] of Object.entries(f.files)) {
      test(`${name}: registers, banner, uname, walks, modules, dmesg`, async () => {
        const dump: Dump = openDump(file);
        try {
          const target = new DumpTarget(dump, { debugInfo: debug });
          assert.equal(dump.arch, arch);
          assert.equal(dump.release, archFixture(arch).release);
          assert.equal(dump.vmcoreinfo?.osrelease, archFixture(arch).release);
          assert.equal(dump.cpus.length, 2);
          // The registers QEMU saved are the ones its monitor showed after `stop`.
          const pcName = arch === 'x86_64' ? 'rip' : 'pc';
          const spName = arch === 'x86_64' ? 'rsp' : 'sp';
          for (const r of f.truths.registers ?? []) {
            const got = await target.registers(r.cpu, [pcName, spName]);
            assert.equal(hex(got.get(pcName)!), r.pc, `CPU ${r.cpu} ${pcName}`);
            if (r.sp) assert.equal(hex(got.get(spName)!), r.sp, `CPU ${r.cpu} ${spName}`);
          }
          await checkSameKernel(target, await vmlinuxIdentity(archFixture(arch).vmlinux));
          const banner = await target.readVirtual((await target.symbol('linux_banner'))!, f.truths.banner.length);
          assert.equal(Buffer.from(banner).toString('latin1'), f.truths.banner);
          assert.equal(await unameOf(target), f.truths.uname.replace(/ GNU\/Linux$/, ''));

          const paging = await target.kernelPaging();
          for (const [sym, g] of Object.entries(f.truths.gva2gpa ?? {})) {
            assert.ok(g.pa, `the monitor translated ${sym}`);
            const w = await walk(target, BigInt(g.va), { root: paging.root, config: paging.config });
            assert.equal(w.phys === null ? null : hex(w.phys), hex(BigInt(g.pa!)), `walk of ${sym} (${g.va})`);
            // With -p, QEMU wrote its own translations into p_vaddr: they agree too.
            const range = dump.virtualRanges.find((v) => BigInt(g.va) >= v.va && BigInt(g.va) < v.va + v.size);
            // (QEMU 7.2 finds mappings this way on x86 only.)
            if (name === 'elf-paging' && arch === 'x86_64') assert.equal(range && hex(range.pa + BigInt(g.va) - range.va), hex(BigInt(g.pa!)), `p_vaddr of ${sym}`);
          }

          const modules = await listModules(target);
          const proc = f.truths.modules.map((l) => l.split(' '));
          assert.deepEqual(modules.map((m) => m.name), proc.map((p) => p[0]), '/proc/modules order and names');
          for (const [i, p] of proc.entries()) {
            assert.equal(modules[i].size, Number(p[1]), `${p[0]} size`);
            assert.equal(hex(modules[i].base), hex(BigInt(p[5])), `${p[0]} base`);
          }
          const kdap = modules.find((m) => m.name === 'kdap_test')!;
          for (const [section, address] of Object.entries(f.truths.sections)) {
            if (kdap.freedSections.includes(section)) continue;
            assert.equal(kdap.sections.has(section) ? hex(kdap.sections.get(section)!) : undefined, hex(BigInt(address)), `kdap_test ${section}`);
          }

          const log = await printkRecords(target);
          const lines = formatRecords(log.records).trimEnd().split('\n');
          assertLogTail(lines, f.truths.dmesg, "the guest's dmesg");
          if (f.crashLog && name === 'elf') assertLogTail(lines, crashLines(f.crashLog).slice(-40), "crash's log");
        } finally {
          dump.close();
        }
      });
    }
  });
}
