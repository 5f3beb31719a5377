import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryImage } from '../../../src/kernel/memory-image';
import {
  KaslrError,
  findSlide,
  parseVmcoreinfo,
  pcCandidates,
  randomizedLayout,
  slideRange,
  verifySlide,
  vmcoreinfoSlide,
  type LinkedKernel,
} from '../../../src/kernel/kaslr';
import { FaultError, type Target } from '../../../src/kernel/target';
import { indexOf, tcr, writeChain } from './page-table-builder';

const KiB = 1n << 10n;
const MiB = 1n << 20n;
const GiB = 1n << 30n;

// Link addresses from the Debian 6.1.0-50 System.map files (amd64 and arm64); kgdb_breakpoint is
// not in those (no KGDB) and is placed in text here.
const X86_SYMBOLS = {
  _text: 0xffffffff81000000n,
  _stext: 0xffffffff81000000n,
  default_idle: 0xffffffff81a0de80n,
  kgdb_breakpoint: 0xffffffff8113a3d0n,
  _etext: 0xffffffff81e01ef2n,
  linux_banner: 0xffffffff8211fa00n,
  vmemmap_base: 0xffffffff82396950n,
  vmalloc_base: 0xffffffff82396958n,
  page_offset_base: 0xffffffff82396960n,
  phys_base: 0xffffffff82a1a010n,
  _sinittext: 0xffffffff8304c000n,
  start_kernel: 0xffffffff8304ce41n,
  _einittext: 0xffffffff830af4bcn,
  _end: 0xffffffff83830000n,
};
const ARM64_SYMBOLS = {
  _text: 0xffff800008000000n,
  _stext: 0xffff800008010000n,
  vectors: 0xffff800008010800n,
  cpu_do_idle: 0xffff800008ba8f50n,
  _etext: 0xffff800008bd0000n,
  linux_banner: 0xffff800008d22cc8n,
  memstart_addr: 0xffff800008ee7cd0n,
  kimage_voffset: 0xffff800008ee7d60n,
  _sinittext: 0xffff800009380000n,
  start_kernel: 0xffff8000093809f4n,
  _einittext: 0xffff8000093e4a34n,
  _end: 0xffff800009aa0000n,
};

const BANNER = Buffer.from('Linux version 6.1.0-50-cloud-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2025-10-10)');

function linked(symbols: Record<string, bigint>, banner: Uint8Array = BANNER): LinkedKernel {
  return { symbols: new Map(Object.entries(symbols)), sizes: new Map([['kgdb_breakpoint', 0x14n]]), banner };
}

function u64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
}

/** Something else at the same offset in another kernel: the banner test must tell them apart. */
const OTHER_BANNER = Buffer.from(BANNER.toString().replace('6.1.176-1', '6.1.177-1'));

// ---- x86_64: CR3 → PGD[511] → PUD[510] → PMD of 2 MiB pages, as head_64.S builds level2_kernel_pgt ----

const X86_PGD = 0x10_000n;
const X86_PUD = 0x11_000n;
const X86_PMD = 0x12_000n;
const X86_USER_PGD = X86_PGD + 0x1000n; // with PTI, CR3 in user mode points at the odd page of the pair

interface X86Kernel {
  image: MemoryImage;
  slide: bigint;
  phys: bigint;
}

/**
 * A randomized x86_64 kernel: the image (_text … _end) at `_text + slide`, physically at `phys`,
 * mapped with 2 MiB pages and nothing else in the 1 GiB kernel-image window. The banner and the
 * layout variables hold their runtime contents.
 */
function x86Kernel(slide: bigint, opts: { phys?: bigint; cr3?: bigint; banner?: Uint8Array } = {}): X86Kernel {
  const phys = opts.phys ?? 0x3a00_0000n;
  const image = new MemoryImage('x86_64', 2).addRam(0n, 2n * GiB);
  image.setRegisters(0, { cr3: opts.cr3 ?? X86_PGD, cr4: 0x6b0n }).setRegisters(1, { cr3: opts.cr3 ?? X86_PGD, cr4: 0x6b0n });
  const start = X86_SYMBOLS._text + slide;
  image.writeU64(X86_PGD + indexOf(start, 39, 9) * 8n, X86_PUD | 0x67n);
  image.writeU64(X86_PUD + indexOf(start, 30, 9) * 8n, X86_PMD | 0x63n);
  for (let off = 0n; off < X86_SYMBOLS._end - X86_SYMBOLS._text; off += 2n * MiB) {
    image.writeU64(X86_PMD + indexOf(start + off, 21, 9) * 8n, (phys + off) | 0x1e3n);
  }
  const at = (sym: bigint) => phys + (sym - X86_SYMBOLS._text);
  image.writePhysical(at(X86_SYMBOLS.linux_banner), opts.banner ?? BANNER);
  image.writePhysical(at(X86_SYMBOLS.page_offset_base), u64(0xff3c_1a00_0000_0000n));
  image.writePhysical(at(X86_SYMBOLS.vmalloc_base), u64(0xff5a_7b00_0000_0000n));
  image.writePhysical(at(X86_SYMBOLS.vmemmap_base), u64(0xffd4_0000_0000_0000n));
  image.writePhysical(at(X86_SYMBOLS.phys_base), u64(phys - 0x100_0000n));
  image.translateThroughPageTables({ cpu: 0, config: { pti: true } });
  return { image, slide, phys };
}

/** What kgdb offers: virtual reads only, no registers, no physical memory. */
function kgdbView(image: MemoryImage): Target & { requests: number } {
  const view = {
    requests: 0,
    arch: image.arch,
    readVirtual: (a: bigint, n: number) => {
      view.requests++;
      return image.readVirtual(a, n);
    },
    readPhysical: async (a: bigint, n: number): Promise<Uint8Array> => {
      view.requests++;
      throw new FaultError(a, n, 'kgdb reads no physical memory');
    },
    registers: async () => {
      view.requests++;
      return new Map<string, bigint>();
    },
    symbol: (name: string) => image.symbol(name),
    layout: (name: string) => image.layout(name),
    cpus: () => image.cpus(),
  };
  return view;
}

describe('KASLR on x86_64', () => {
  const slide = 0x2ea0_0000n; // a 2 MiB multiple below 1 GiB − 16 MiB − the image

  test('from the page tables alone (QEMU stopped anywhere): the first mapped run of the window', async () => {
    const { image } = x86Kernel(slide);
    const r = await findSlide(image, linked(X86_SYMBOLS), { systemRegisters: true });
    assert.equal(r.slide, slide);
    assert.equal(r.method, 'page-tables');
    assert.ok(r.requests <= 8, `${r.requests} requests`);
    assert.match(r.detail, /map the image at 0xffffffffafa00000 \(phys 0x3a000000\)/);
  });

  test('from a kernel pc (kgdb: no registers, no physical reads): a handful of candidates, one proved', async () => {
    const { image } = x86Kernel(slide);
    const kgdb = kgdbView(image);
    const pc = X86_SYMBOLS.default_idle + slide + 0x1an;
    const r = await findSlide(kgdb, linked(X86_SYMBOLS), { pcs: [0x401000n, pc] });
    assert.equal(r.slide, slide);
    assert.equal(r.method, 'pc');
    const text = X86_SYMBOLS._etext - X86_SYMBOLS._text;
    assert.ok(r.requests <= Number(text / (2n * MiB)) + 2, `${r.requests} requests for ${text / MiB} MiB of text`);
  });

  test('stopped in kgdb_breakpoint: one candidate, one read', async () => {
    const { image } = x86Kernel(slide);
    const kgdb = kgdbView(image);
    const r = await findSlide(kgdb, linked(X86_SYMBOLS), { pcs: [X86_SYMBOLS.kgdb_breakpoint + slide + 5n], stoppedIn: 'kgdb_breakpoint' });
    assert.deepEqual([r.slide, r.method, r.requests], [slide, 'stop', 1]);
  });

  test('a pc in init text (start_kernel) works too', async () => {
    const { image } = x86Kernel(slide);
    const r = await findSlide(kgdbView(image), linked(X86_SYMBOLS), { pcs: [X86_SYMBOLS.start_kernel + slide] });
    assert.equal(r.slide, slide);
  });

  test('nokaslr: slide 0 is found like any other', async () => {
    const { image } = x86Kernel(0n);
    assert.equal((await findSlide(image, linked(X86_SYMBOLS), { systemRegisters: true })).slide, 0n);
    assert.equal((await findSlide(kgdbView(image), linked(X86_SYMBOLS), { pcs: [X86_SYMBOLS.default_idle] })).slide, 0n);
  });

  test('PTI, every CPU in user space (CR3 = the user PGD): the kernel half of the pair is read', async () => {
    const { image } = x86Kernel(slide, { cr3: X86_USER_PGD | 0x801n });
    const r = await findSlide(image, linked(X86_SYMBOLS), { systemRegisters: true, pcs: [0x401000n, 0x7f12_3456_7000n] });
    assert.equal(r.slide, slide);
    assert.equal(r.method, 'page-tables');
  });

  test('another build of the same kernel (other banner): no slide is claimed', async () => {
    const { image } = x86Kernel(slide, { banner: OTHER_BANNER });
    await assert.rejects(
      findSlide(image, linked(X86_SYMBOLS), { systemRegisters: true, pcs: [X86_SYMBOLS.default_idle + slide] }),
      (e: unknown) => e instanceof KaslrError && /linux_banner/.test(e.message) && /page tables/.test(e.message),
    );
  });

  test('nothing to go on (kgdb, user-space pc): a clear error, not a guess', async () => {
    const { image } = x86Kernel(slide);
    await assert.rejects(findSlide(kgdbView(image), linked(X86_SYMBOLS), { pcs: [0x401000n] }), KaslrError);
  });

  test('the randomized regions follow from the slide: page_offset_base, vmalloc_base, vmemmap_base, phys_base', async () => {
    const { image, phys } = x86Kernel(slide);
    const layout = await randomizedLayout(image, linked(X86_SYMBOLS), slide);
    assert.deepEqual(Object.fromEntries(layout.variables), {
      page_offset_base: 0xff3c_1a00_0000_0000n,
      vmalloc_base: 0xff5a_7b00_0000_0000n,
      vmemmap_base: 0xffd4_0000_0000_0000n,
      phys_base: phys - 0x100_0000n,
    });
    assert.deepEqual(layout.directMap, { pageOffset: 0xff3c_1a00_0000_0000n, physOffset: 0n });
    assert.equal(await verifySlide(image, linked(X86_SYMBOLS), slide), true);
    assert.equal(await verifySlide(image, linked(X86_SYMBOLS), slide + 2n * MiB), false);
  });

  test('pcCandidates: every 2 MiB multiple that keeps the pc in text or init text, none negative or past the range', () => {
    const k = linked(X86_SYMBOLS);
    const r = slideRange({ arch: 'x86_64' }, k);
    assert.equal(r.max, GiB - 16n * MiB - (X86_SYMBOLS._end - X86_SYMBOLS._text));
    const pc = X86_SYMBOLS.default_idle + slide;
    const c = pcCandidates(pc, k, r, 2n * MiB);
    assert.ok(c.includes(slide));
    for (const s of c) {
      assert.equal(s % (2n * MiB), 0n);
      assert.ok(s >= 0n && s <= r.max);
      const link = pc - s;
      assert.ok((link >= X86_SYMBOLS._text && link < X86_SYMBOLS._etext) || (link >= X86_SYMBOLS._sinittext && link < X86_SYMBOLS._einittext));
    }
    // 14 MiB of text: at most 8 candidates there, plus the init text ones that fit.
    assert.ok(c.length >= 7 && c.length <= 9, `${c.length} candidates`);
  });
});

// ---- arm64: TTBR1_EL1 → L0 → L1 → L2 blocks (4K granule, 48-bit VA), as init_pg_dir maps the image ----

const TCR = tcr({ t0sz: 16, t1sz: 16, granule0: 4, granule1: 4, ipsBits: 44 });
const L0 = 0x4157_b000n;
const BLOCK = 0x701n; // block, AttrIndx 0, SH inner, AF
const TABLE = 0x3n;

interface Arm64Kernel {
  image: MemoryImage;
  slide: bigint;
}

/**
 * A randomized arm64 kernel at `_text + slide` (physically at 0x40200000, as QEMU's loader puts
 * it), plus a module 1 GiB below the image in the same window, mapped with 4 KiB pages. Tables
 * are allocated from 0x5000_0000 up.
 */
function arm64Kernel(slide: bigint, opts: { vbar?: bigint; fromStext?: boolean } = {}): Arm64Kernel {
  const phys = 0x4020_0000n;
  const image = new MemoryImage('arm64', 2).addRam(0x4000_0000n, 2n * GiB);
  let next = 0x5000_0000n;
  const tables = new Map<string, bigint>();
  const table = (key: string) => {
    let t = tables.get(key);
    if (t === undefined) {
      t = next;
      next += 0x1000n;
      tables.set(key, t);
    }
    return t;
  };
  const map = (va: bigint, pa: bigint, leafShift: 21 | 12) => {
    const l1 = table(`l1:${va >> 39n}`);
    const l2 = table(`l2:${va >> 30n}`);
    writeChain(image, va, [
      { table: L0, shift: 39, bits: 9, entry: l1 | TABLE },
      { table: l1, shift: 30, bits: 9, entry: l2 | TABLE },
    ]);
    if (leafShift === 21) {
      image.writeU64(l2 + indexOf(va, 21, 9) * 8n, pa | BLOCK);
    } else {
      const l3 = table(`l3:${va >> 21n}`);
      image.writeU64(l2 + indexOf(va, 21, 9) * 8n, l3 | TABLE);
      image.writeU64(l3 + indexOf(va, 12, 9) * 8n, pa | 0x703n);
    }
  };
  const from = opts.fromStext ? ARM64_SYMBOLS._stext : ARM64_SYMBOLS._text;
  for (let va = from; va < ARM64_SYMBOLS._end; va += opts.fromStext ? 4n * KiB : 2n * MiB) {
    map(va + slide, phys + (va - ARM64_SYMBOLS._text), opts.fromStext ? 12 : 21);
  }
  // A module below the image: a mapped run in the window that is not the kernel.
  for (let p = 0n; p < 5n; p++) map(ARM64_SYMBOLS._text + slide - GiB + p * 4n * KiB, 0x6000_0000n + p * 4n * KiB, 12);
  const at = (sym: bigint) => phys + (sym - ARM64_SYMBOLS._text);
  image.writePhysical(at(ARM64_SYMBOLS.linux_banner), BANNER);
  image.writePhysical(at(ARM64_SYMBOLS.memstart_addr), u64(0xffff_fff0_8000_0000n)); // linear map randomized: negative
  image.writePhysical(at(ARM64_SYMBOLS.kimage_voffset), u64(ARM64_SYMBOLS._text + slide - phys));
  const regs = { TCR_EL1: TCR, TTBR1_EL1: 0x2e00_0000_0000_0000n | L0, VBAR_EL1: opts.vbar ?? ARM64_SYMBOLS.vectors + slide };
  image.setRegisters(0, regs).setRegisters(1, regs);
  image.translateThroughPageTables({ cpu: 0 });
  return { image, slide };
}

describe('KASLR on arm64', () => {
  // BIT(45) + (seed & GENMASK(45, 0)), 2 MiB aligned: 4K pages, VA_BITS 48.
  const slide = (1n << 45n) + 0x1a2b_3c40_0000n;

  test('the slide range follows from VA_BITS_MIN, read off the link address', () => {
    const r = slideRange({ arch: 'arm64' }, linked(ARM64_SYMBOLS));
    assert.deepEqual([r.min, r.max, r.align], [1n << 45n, (1n << 45n) + (1n << 46n), [2n * MiB, 64n * KiB]]);
  });

  test('from VBAR_EL1 early in boot: one register, one read', async () => {
    const { image } = arm64Kernel(slide);
    const r = await findSlide(image, linked(ARM64_SYMBOLS), { systemRegisters: true, cpus: [0] });
    assert.deepEqual([r.slide, r.method, r.requests], [slide, 'vector-base', 2]);
  });

  test('VBAR at the KPTI trampoline (fixmap, not slid): the page tables find the image past a module', async () => {
    const { image } = arm64Kernel(slide, { vbar: 0xffff_ffff_ff7f_0000n, fromStext: true });
    const r = await findSlide(image, linked(ARM64_SYMBOLS), { systemRegisters: true, pcs: [0x4_0000_1000n] });
    assert.equal(r.slide, slide);
    assert.equal(r.method, 'page-tables');
    assert.match(r.detail, /run 2 of the window from/, 'the module run came first and was refused');
    assert.ok(r.requests <= 16, `${r.requests} requests`);
  });

  test('kgdb: a pc in cpu_do_idle gives the slide from about ten candidates', async () => {
    const { image } = arm64Kernel(slide);
    const kgdb = kgdbView(image);
    const r = await findSlide(kgdb, linked(ARM64_SYMBOLS), { pcs: [ARM64_SYMBOLS.cpu_do_idle + slide + 8n] });
    assert.deepEqual([r.slide, r.method], [slide, 'pc']);
    assert.ok(kgdb.requests <= 12, `${kgdb.requests} requests`);
  });

  test('an image placed 64 KiB off a 2 MiB boundary (EFI stub, nokaslr): the finer alignment finds it', async () => {
    const odd = 0x3_0000n;
    const { image } = arm64Kernel(odd, { fromStext: true });
    const r = await findSlide(kgdbView(image), linked(ARM64_SYMBOLS), { pcs: [ARM64_SYMBOLS.cpu_do_idle + odd] });
    assert.equal(r.slide, odd);
    assert.match(r.detail, /0x10000 alignment/);
  });

  test('the linear map follows: memstart_addr (randomized, negative) and PAGE_OFFSET', async () => {
    const { image } = arm64Kernel(slide);
    const layout = await randomizedLayout(image, linked(ARM64_SYMBOLS), slide);
    assert.equal(layout.variables.get('kimage_voffset'), ARM64_SYMBOLS._text + slide - 0x4020_0000n);
    assert.deepEqual(layout.directMap, { pageOffset: 0xffff_0000_0000_0000n, physOffset: -0xf_8000_0000n });
  });
});

describe('VMCOREINFO', () => {
  test('KERNELOFFSET is the slide (hex, no 0x), as crash_save_vmcoreinfo writes it', () => {
    const info = parseVmcoreinfo('OSRELEASE=6.1.0-50-cloud-amd64\nPAGESIZE=4096\nKERNELOFFSET=2ea00000\nNUMBER(phys_base)=-2130706432\n');
    assert.equal(info.get('OSRELEASE'), '6.1.0-50-cloud-amd64');
    assert.equal(vmcoreinfoSlide(info), 0x2ea0_0000n);
    assert.equal(vmcoreinfoSlide(parseVmcoreinfo('OSRELEASE=x\n')), undefined);
  });
});
