import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openDump } from '../../../src/dump/dump';
import { NotInDumpError } from '../../../src/dump/errors';
import { encodeNote, NT_PRSTATUS } from '../../../src/dump/notes';
import { encodePrStatus } from '../../../src/dump/prstatus';
import { DumpTarget } from '../../../src/dump/target';
import { FaultError } from '../../../src/kernel/target';
import { concat, elfCore, kdump, tempFile, vmcoreinfoNote } from './build';
import { pattern } from './vectors';

/** Little-endian u64 into `ram` at `at`. */
function put(ram: Uint8Array, at: number, value: bigint): void {
  new DataView(ram.buffer, ram.byteOffset).setBigUint64(at, value, true);
}

const noDebugInfo = (symbols: Record<string, bigint> = {}) => ({ symbol: async (n: string) => symbols[n], layout: async () => undefined });

describe('DumpTarget', () => {
  test('x86_64: virtual reads walk init_top_pgt at __pa_symbol(), KASLR moves image symbols only', async () => {
    // 2 MiB of RAM at 0. The image is linked at 0xffffffff81000000 and (KERNELOFFSET) runs
    // 0x200000 higher; phys_base 0. Indices by hand: VA 0xffffffff81200000 → 511, 510, 9, 0.
    const ram = pattern(0x200000, 7);
    for (const table of [0x10000, 0x11000, 0x12000, 0x13000]) ram.fill(0, table, table + 0x1000);
    put(ram, 0x10000 + 511 * 8, 0x11000n | 0x63n);
    put(ram, 0x11000 + 510 * 8, 0x12000n | 0x63n);
    put(ram, 0x12000 + 9 * 8, 0x13000n | 0x63n);
    put(ram, 0x13000 + 0 * 8, 0x100000n | 0x63n);
    put(ram, 0x13000 + 1 * 8, 0x180000n | 0x63n);
    const info = 'OSRELEASE=6.1.0\nPAGESIZE=4096\nKERNELOFFSET=200000\nNUMBER(phys_base)=0\nSYMBOL(swapper_pg_dir)=ffffffff80010000\nNUMBER(pgtable_l5_enabled)=0\n';
    const regs = new Map([['rip', 0xffffffff81200123n], ['rsp', 0xffffc90000001000n]]);
    const notes = concat(encodeNote('CORE', NT_PRSTATUS, encodePrStatus('x86_64', 1, regs)), vmcoreinfoNote(info));
    const dump = openDump(tempFile('target-x86.elf', elfCore(62, [{ paddr: 0n, data: ram }], notes)));
    try {
      const target = new DumpTarget(dump, { debugInfo: noDebugInfo({ linux_banner: 0xffffffff81000010n, runqueues: 0x2f0c0n }) });
      assert.equal(await target.kernelOffset(), 0x200000n);
      assert.equal(await target.symbol('linux_banner'), 0xffffffff81200010n);
      assert.equal(await target.symbol('runqueues'), 0x2f0c0n, 'per-CPU offsets are not in the image');
      assert.equal(await target.symbol('swapper_pg_dir'), 0xffffffff80010000n, 'VMCOREINFO fills in what debug info lacks');
      assert.equal((await target.kernelPaging()).root, 0x10000n);
      // Across the page boundary: two pages that are not adjacent in physical memory.
      const bytes = await target.readVirtual(0xffffffff81200ff8n, 16);
      assert.deepEqual(bytes, concat(ram.subarray(0x100ff8, 0x101000), ram.subarray(0x180000, 0x180008)));
      await target.readVirtual(0xffffffff81200000n, 8);
      assert.equal(target.walks, 2, 'translations are cached per page');
      await assert.rejects(target.readVirtual(0xffffffff81202000n, 8), (e) => e instanceof FaultError && /not mapped in the kernel's page tables \(init_top_pgt.*PTE\[2\]/.test(e.message));
      assert.deepEqual(await target.registers(0, ['rip', 'cr3']), new Map([['rip', 0xffffffff81200123n]]));
      await assert.rejects(target.registers(1, ['rip']), /no CPU 1 in this dump of 1 CPUs/);
      assert.equal(await target.cpus(), 1);
    } finally {
      dump.close();
    }
  });

  test('arm64 (kdump-compressed, filtered): swapper_pg_dir through kimage_voffset, a filtered page is NotInDumpError', async () => {
    // RAM 0x40000000 + 64 pages. VA 0xffff800008010000 → L0 256, L1 0, L2 64, L3 16.
    const base = 0x40000;
    const pages = new Map<number, Uint8Array>();
    const table = (pfn: number, index: number, value: bigint) => {
      const page = pages.get(pfn) ?? new Uint8Array(4096);
      put(page, index * 8, value);
      pages.set(pfn, page);
    };
    const pa = (n: number) => BigInt(base + n) << 12n;
    table(base + 1, 256, pa(2) | 3n);
    table(base + 2, 0, pa(3) | 3n);
    table(base + 3, 64, pa(4) | 3n);
    table(base + 4, 16, pa(10) | 0x403n);
    table(base + 4, 17, pa(11) | 0x403n);
    pages.set(base + 10, pattern(4096, 9));
    // base + 11 is memory but left out of the dump (filtered).
    const info = 'OSRELEASE=6.1.0\nPAGESIZE=4096\nNUMBER(VA_BITS)=48\nNUMBER(TCR_EL1_T1SZ)=16\nNUMBER(kimage_voffset)=0xffff7fffc8000000\nKERNELOFFSET=0\n';
    // __pa_symbol(swapper_pg_dir) = va − kimage_voffset = pa(1).
    const pgd = pa(1) + 0xffff7fffc8000000n;
    const bytes = kdump({
      machine: 'aarch64', pageSize: 4096, maxMapnr: base + 64, present: Array.from({ length: 64 }, (_, i) => base + i), pages, kind: 'zlib',
      vmcoreinfo: info + `SYMBOL(swapper_pg_dir)=${pgd.toString(16)}\n`, dumpLevel: 31,
    });
    const dump = openDump(tempFile('target-arm64.kdump', bytes));
    try {
      const target = new DumpTarget(dump, { debugInfo: noDebugInfo() });
      assert.equal((await target.kernelPaging()).root, pa(1));
      assert.deepEqual(await target.readVirtual(0xffff800008010100n, 32), pattern(4096, 9).subarray(0x100, 0x120));
      await assert.rejects(target.readVirtual(0xffff800008011000n, 8), (e) => e instanceof NotInDumpError && /filtered out/.test(e.message));
      await assert.rejects(target.readPhysical(pa(11), 8), NotInDumpError);
    } finally {
      dump.close();
    }
  });
});
