/**
 * The text formats the symbolizer reads and writes, checked on samples of real tool output
 * (llvm-symbolizer 14 JSON, binutils 2.40 addr2line and objdump, llvm-mc 14), plus the
 * return-address rule on the parsed fixture logs and `file.c:123` references.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseAddr2lineBatch, parseAddr2linePosition } from '../../../src/oops/symbolize/addr2line';
import { codeBytes, parseLlvmMc, parseObjdump } from '../../../src/oops/symbolize/decodecode';
import { fileRefs, kernelLinkRanges } from '../../../src/oops/symbolize/file-refs';
import { parseLlvmSymbolizerJson } from '../../../src/oops/symbolize/llvm-symbolizer';
import { isReturnAddress } from '../../../src/oops/symbolize/resolver';
import { parseLog } from '../../../src/oops/parse';
import { parseFixture, snippet } from './helpers';

describe('llvm-symbolizer JSON', () => {
  it('an inline chain, innermost first', () => {
    const line =
      '{"Address":"0xffffffff813e6d85","ModuleName":"vmlinux","Symbol":[' +
      '{"Column":10,"Discriminator":0,"FileName":"debian/build/build_amd64_none_cloud-amd64/fs/proc/inode.c","FunctionName":"pde_write","Line":340,"StartAddress":"","StartFileName":"","StartLine":334},' +
      '{"Column":8,"Discriminator":2,"FileName":"debian/build/build_amd64_none_cloud-amd64/fs/proc/inode.c","FunctionName":"proc_reg_write","Line":352,"StartAddress":"0xffffffff813e6d30","StartFileName":"","StartLine":344}]}';
    assert.deepEqual(parseLlvmSymbolizerJson(line), [
      { function: 'pde_write', file: 'debian/build/build_amd64_none_cloud-amd64/fs/proc/inode.c', line: 340, column: 10, discriminator: undefined },
      { function: 'proc_reg_write', file: 'debian/build/build_amd64_none_cloud-amd64/fs/proc/inode.c', line: 352, column: 8, discriminator: 2 },
    ]);
  });

  it('a symbol without line info, an error and garbage', () => {
    const noLine = '{"Address":"0x0","ModuleName":"vmlinux","Symbol":[{"Column":0,"Discriminator":0,"FileName":"","FunctionName":"fixed_percpu_data","Line":0,"StartAddress":"0x0","StartFileName":"","StartLine":0}]}';
    assert.deepEqual(parseLlvmSymbolizerJson(noLine), [{ function: 'fixed_percpu_data', file: undefined, line: 0, column: undefined, discriminator: undefined }]);
    assert.deepEqual(parseLlvmSymbolizerJson('{"Error":{"Message":"unable to parse arguments: xyz"},"ModuleName":"vmlinux"}'), []);
    assert.deepEqual(parseLlvmSymbolizerJson('not json'), []);
  });
});

describe('addr2line -a -f -p -i', () => {
  it('positions, discriminators and unknowns', () => {
    assert.deepEqual(parseAddr2linePosition('kdap_test_write at /src/kdap_test.c:110 (discriminator 3)'), {
      function: 'kdap_test_write',
      file: '/src/kdap_test.c',
      line: 110,
      column: undefined,
      discriminator: 3,
    });
    assert.equal(parseAddr2linePosition('?? ??:0'), undefined);
    assert.deepEqual(parseAddr2linePosition('foo at ??:?'), { function: 'foo', file: undefined, line: 0, column: undefined, discriminator: undefined });
  });

  it('a batch is split at the address lines and ends at the sentinel', () => {
    const out = snippet(`
      0x0000000000000025: kdap_test_write at /work/main/test/fixtures/kmod/kdap_test.c:110
       (inlined by) kdap_test_write at /work/main/test/fixtures/kmod/kdap_test.c:85
      0x0000000001000000: ?? ??:0
      0x0000000000000005: kdap_test_tick at /work/main/test/fixtures/kmod/kdap_test.c:60
      0xffffffffffffffff: ?? ??:0
    `)
      .trimEnd()
      .split('\n');
    const batch = parseAddr2lineBatch(out, 3);
    assert.deepEqual(
      batch.map((chain) => chain.map((p) => `${p.function} ${p.line}`)),
      [['kdap_test_write 110', 'kdap_test_write 85'], [], ['kdap_test_tick 60']],
    );
  });
});

describe('decodecode helpers', () => {
  it('x86 bytes and arm64 words become memory-order bytes with the fault offset', () => {
    const [x86] = parseLog('RIP: 0010:f+0x1/0x2\nCode: 48 8b 05 <8b> 78 28\n').reports;
    const x = codeBytes(x86.code!);
    assert.equal(x.bytes.toString('hex'), '488b058b7828');
    assert.equal(x.faultOffset, 3);
    const [arm] = parseLog('pc : f+0x1/0x2\nlr : g+0x1/0x2\nCode: 913da294 f90002ff (f9428aa3)\n').reports;
    const a = codeBytes(arm.code!);
    assert.equal(a.bytes.toString('hex'), '94a23d91ff0200f9a38a42f9');
    assert.equal(a.faultOffset, 8);
  });

  it('objdump listings, with continuation lines of long x86 instructions', () => {
    const text = [
      '',
      'code.bin:     file format binary',
      '',
      'Disassembly of section .data:',
      '',
      '0000000000000000 <.data>:',
      '   0:\t48 b8 88 77 66 55 44 \tmovabs $0x1122334455667788,%rax',
      '   7:\t33 22 11 ',
      '   a:\t8b 78 28             \tmov    0x28(%rax),%edi',
      '   d:\tf9428aa3 \tldr\tx3, [x21, #1296]',
    ].join('\n');
    assert.deepEqual(
      parseObjdump(text).map((i) => [i.offset, i.bytes, i.length, i.text]),
      [
        [0, '48 b8 88 77 66 55 44 33 22 11', 10, 'movabs $0x1122334455667788,%rax'],
        [10, '8b 78 28', 3, 'mov    0x28(%rax),%edi'],
        [13, 'f9428aa3', 4, 'ldr\tx3, [x21, #1296]'],
      ],
    );
  });

  it('llvm-mc listings: offsets from the encodings, x86 (#) and arm64 (//) comments', () => {
    const x86 = '\t.text\n\tmovl\t40(%rax), %edi                  # encoding: [0x8b,0x78,0x28]\n\tcallq\t-44                             # encoding: [0xe8,A,A,A,A]\n';
    assert.deepEqual(
      parseLlvmMc(x86).map((i) => [i.offset, i.length, i.text]),
      [
        [0, 3, 'movl 40(%rax), %edi'],
        [3, 5, 'callq -44'],
      ],
    );
    const arm = '\t.text\n\tldr\tx3, [x21, #1296]                 // encoding: [0xa3,0x8a,0x42,0xf9]\n';
    assert.deepEqual(parseLlvmMc(arm).map((i) => [i.offset, i.bytes, i.text]), [[0, 'a3 8a 42 f9', 'ldr x3, [x21, #1296]']]);
  });
});

describe('file.c:123 references', () => {
  it('finds decoded, WARNING and BUG forms with exact columns', () => {
    const line = '[    3.1] WARNING: CPU: 1 PID: 9 at /work/kmod/kdap_test.c:70 kdap_test_warn+0x5/0x20 [kdap_test]';
    const [r] = fileRefs(line);
    assert.deepEqual([r.file, r.line, line.slice(r.start, r.end)], ['/work/kmod/kdap_test.c', 70, '/work/kmod/kdap_test.c:70']);
    const bug = fileRefs('kernel BUG at mm/slub.c:435!')[0];
    assert.deepEqual([bug.file, bug.line], ['mm/slub.c', 435]);
    const decoded = fileRefs(' proc_reg_write+0x56/0xa0 (fs/proc/inode.c:352:8) x (arch/x86/entry/entry_64.S:121)');
    assert.deepEqual(
      decoded.map((d) => [d.file, d.line, d.column]),
      [
        ['fs/proc/inode.c', 352, 8],
        ['arch/x86/entry/entry_64.S', 121, undefined],
      ],
    );
  });

  it('ignores times, addresses, URLs without a source extension and huge noise quickly', () => {
    assert.deepEqual(fileRefs('[   12:34:56] 0xffff:1234 http://example.org:80 foo.txt:12'), []);
    const noise = 'a'.repeat(4000) + '.c:' + '1'.repeat(50);
    const started = process.hrtime.bigint();
    fileRefs(noise);
    fileRefs(('x/'.repeat(300) + 'y.c:1 ').repeat(6));
    assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 100);
  });
});

describe('links in a lone line (terminals, other editors)', () => {
  const texts = (line: string) => kernelLinkRanges(line).map((r) => [r.kind, line.slice(r.start, r.end)]);

  it('frames with timestamps, ?, modules and build ids; code registers; decoded sources', () => {
    assert.deepEqual(texts('[    3.374037]  ? oopsmod_write.cold+0x5/0xa [oopsmod]'), [['frame', 'oopsmod_write.cold+0x5/0xa [oopsmod]']]);
    assert.deepEqual(texts(' dummy_get_stats64+0x20/0x30 [dummy 0123456789abcdef0123]'), [['frame', 'dummy_get_stats64+0x20/0x30 [dummy 0123456789abcdef0123]']]);
    assert.deepEqual(texts('[    3.374037] RIP: 0010:kdap_test_oops+0xc/0x20 [kdap_test]'), [['register', 'kdap_test_oops+0xc/0x20 [kdap_test]']]);
    assert.deepEqual(texts('[ 6.57] pc : dev_lstats_read+0x5c/0xbc'), [['register', 'dev_lstats_read+0x5c/0xbc']]);
    assert.deepEqual(texts(' proc_reg_write+0x56/0xa0 (fs/proc/inode.c:352)'), [
      ['frame', 'proc_reg_write+0x56/0xa0'],
      ['file', 'fs/proc/inode.c:352'],
    ]);
  });

  it('ordinary shell output has no links', () => {
    assert.deepEqual(texts('guest# echo o > /proc/kdap_test'), []);
    assert.deepEqual(texts('total 12  drwxr-xr-x 2 root root 4096 .'), []);
    assert.deepEqual(texts('x'.repeat(10_000)), []);
  });
});

describe('return addresses (addr - 1) and exact pcs', () => {
  it('x86: every call-trace entry is a return address; RIP is exact', () => {
    const [r] = parseFixture('x86_64/null-deref.log').reports;
    assert.ok(r.frames.length >= 7);
    for (const f of r.frames) assert.equal(isReturnAddress(r, f), true, `${f.line} ${f.symbol}`);
    assert.equal(isReturnAddress(r, r.pc!), false);
  });

  it('arm64: the first entry is the pc itself, the rest return addresses; lr is one too', () => {
    const r = parseFixture('arm64/debian61-cortexa57-nonfatal-null-deref-in-dummy-ko-then-sysrq-c.log').reports.find((x) => x.kind !== 'panic')!;
    assert.equal(r.frames[0].symbol, 'dev_lstats_read');
    assert.equal(isReturnAddress(r, r.frames[0]), false);
    assert.equal(isReturnAddress(r, r.frames[1]), true);
    assert.equal(isReturnAddress(r, r.pc!), false);
    assert.equal(isReturnAddress(r, r.lr!), true);
  });

  it('arm64: the entry after an exception entry is the interrupted pc; (P) tags are exact', () => {
    const log = snippet(`
      Call trace:
       arch_cpu_idle+0x18/0x2c
       el1_interrupt+0x38/0x64
       el1h_64_irq_handler+0x18/0x24
       el1h_64_irq+0x64/0x68
       do_idle+0x240/0x2b0
       cpu_startup_entry+0x28/0x30
      Call trace:
       show_stack+0x18/0x24 (C)
       some_function+0x10/0x20 (P)
    `);
    const reports = parseLog(log).reports;
    const frames = reports.flatMap((r) => r.frames.map((f) => ({ r, f })));
    const exact = frames.filter(({ r, f }) => !isReturnAddress(r, f)).map(({ f }) => f.symbol);
    assert.deepEqual(exact, ['do_idle', 'some_function']);
  });
});
