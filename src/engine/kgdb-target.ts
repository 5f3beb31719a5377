/**
 * The kernel `Target` over gdb attached to kgdb, and what page walks need there.
 *
 * kgdb differs from QEMU's gdbstub in three ways that matter to the kernel views:
 * - Threads are every task plus one shadow thread per CPU (`shadowCPU<n>`, thread id −2−n);
 *   only the shadow threads are CPUs. `-thread-info` over all of them costs a register fetch per
 *   task on the serial line (13 s measured for 30 tasks), so the CPU threads are found from
 *   gdb's own thread list (thread ids, no traffic) and only their frames are fetched.
 * - No system registers (no cr3/cr4, no TTBR/TCR/SP_EL0) and no physical reads. Physical
 *   memory is read through the kernel's direct map; the paging configuration comes from kernel
 *   data and DWARF (`init_mm.pgd`, `phys_base`, `memstart_addr`, `kimage_voffset`, the size of
 *   `swapper_pg_dir` and `empty_zero_page`, which page-table levels are folded).
 * - Every packet is a serial round trip (about 45 ms under QEMU); gdb reads up to half of
 *   kgdb's BUFMAX per `m` packet once told (see kgdbGdbSettings). Reads are cached per stop.
 */
import type { GdbBackend } from '../gdb/backend';
import * as data from '../gdb/mi/data';
import { parseFrame } from '../gdb/mi/stack';
import { threadInfo, type ThreadInfo } from '../gdb/mi/threads';
import { optStr, optTuple, str, tuples } from '../gdb/mi/values';
import { UnsupportedError, type Arch, type Target } from '../kernel/target';
import type { DirectMap, PagingOverride } from '../kernel/pagetable';
import { readU64, symbolAddress } from '../kernel/struct';
import { LiveTarget, type CpuThread } from './live-target';

/** kgdb's packet buffer (BUFMAX in arch/<arch>/include/asm/kgdb.h, 6.1). */
export const KGDB_BUFMAX: Readonly<Record<Arch, number>> = { x86_64: 1024, arm64: 2048 };

/** gdb settings for a kgdb line: long replies are slow, and hardware breakpoints never fire. */
export function kgdbGdbSettings(arch: Arch, remoteTimeoutSeconds = 30): string[] {
  // A memory reply is 2 hex digits per byte plus a NUL in kgdb's BUFMAX-byte buffer, and kgdb
  // does not check the length it is asked for (gdb_cmd_memread): stay below half of BUFMAX.
  const readPacket = KGDB_BUFMAX[arch] - 24;
  return [
    `set remotetimeout ${remoteTimeoutSeconds}`,
    `set remote memory-read-packet-size ${readPacket}`,
    'set remote memory-read-packet-size fixed',
    // Z1..Z4 are accepted by x86 kgdb but never fire (measured under QEMU); none on arm64.
    'set remote hardware-breakpoint-limit 0',
    'set remote hardware-watchpoint-limit 0',
  ];
}

/** gdb thread number and kgdb thread id (a pid, or −2−cpu for a shadow CPU thread). */
export interface GdbThreadId {
  id: number;
  tid: number;
}

/** The shadow thread of CPU n has thread id −2−n; gdb shows it as the u32 4294967294 − n. */
export function cpuOfTid(tid: number): number | undefined {
  const cpu = 0xfffffffe - (tid >>> 0);
  return cpu >= 0 && cpu < 4096 ? cpu : undefined;
}

/**
 * Every thread gdb knows, from its own list (gdb refreshed it with qfThreadInfo at the stop):
 * one Python call, no packet on the line. Undefined when gdb has no Python.
 */
export async function gdbThreadIds(gdb: GdbBackend): Promise<GdbThreadId[] | undefined> {
  const script = 'python print("KDAP-TIDS " + " ".join("%d:%d" % (t.num, t.ptid[1]) for t in gdb.selected_inferior().threads()))';
  let text: string;
  try {
    text = await gdb.console(script);
  } catch {
    return undefined;
  }
  const m = /KDAP-TIDS ?(.*)/.exec(text);
  if (!m) return undefined;
  return m[1]
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map((pair) => {
      const [id, tid] = pair.split(':').map(Number);
      return { id, tid };
    })
    .sort((a, b) => a.id - b.id);
}

/**
 * The CPU threads of a kgdb stop, CPU order, each with its top frame (one `-thread-info N` per
 * CPU). Without gdb Python, one full `-thread-info`.
 */
export async function kgdbCpuThreads(gdb: GdbBackend): Promise<CpuThread[]> {
  const ids = await gdbThreadIds(gdb);
  if (!ids) {
    const { threads } = await threadInfo(gdb);
    return threads
      .map((info) => ({ info, cpu: /shadowCPU(\d+)/.exec(`${info.details ?? ''} ${info.name ?? ''}`) }))
      .filter((t) => t.cpu)
      .map((t) => ({ cpu: Number(t.cpu![1]), threadId: t.info.id, info: t.info }))
      .sort((a, b) => a.cpu - b.cpu);
  }
  const cpus = ids.flatMap((t) => {
    const cpu = cpuOfTid(t.tid);
    return cpu === undefined ? [] : [{ cpu, threadId: t.id }];
  });
  cpus.sort((a, b) => a.cpu - b.cpu);
  const out: CpuThread[] = [];
  for (const c of cpus) out.push({ ...c, info: await oneThread(gdb, c.threadId) });
  return out;
}

async function oneThread(gdb: GdbBackend, id: number): Promise<ThreadInfo> {
  const r = await gdb.send('-thread-info', [String(id)], 60_000);
  const t = tuples(r.results, 'threads')[0];
  const frame = t ? optTuple(t, 'frame') : undefined;
  return {
    id,
    targetId: t ? str(t, 'target-id') : `Thread ${id}`,
    details: t ? optStr(t, 'details') : undefined,
    name: t ? optStr(t, 'name') : undefined,
    state: 'stopped',
    frame: frame ? parseFrame(frame) : undefined,
  };
}

/** Where the kernel keeps physical memory in its own address space, read from kernel data. */
export interface KernelMemory {
  directMap: DirectMap;
  /** `__pa_symbol()`: physical address of a kernel-image address. */
  imagePhys(va: bigint): bigint;
  /** What the walk needs instead of the paging registers. */
  paging: PagingOverride;
}

/** Size of a global from DWARF (`sizeof(x)`), no target access. */
async function sizeOf(gdb: GdbBackend, expression: string): Promise<number | undefined> {
  try {
    const text = await data.evaluate(gdb, `sizeof(${expression})`);
    const n = Number(/\d+/.exec(text)?.[0]);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Page-table levels in use, from which level types are folded: pgtable-nopXd.h wraps the
 * folded level's type around the one above (`pud_t` is `struct { p4d_t p4d; }` when PUD is
 * folded). Types only, read from DWARF.
 */
async function pgtableLevels(gdb: GdbBackend): Promise<number> {
  let levels = 5;
  for (const [type, inner] of [['p4d_t', 'pgd'], ['pud_t', 'p4d'], ['pmd_t', 'pud']] as const) {
    const text = await gdb.console(`ptype ${type}`).catch(() => '');
    if (new RegExp(`\\b${inner}_t ${inner};`).test(text)) levels--;
  }
  return levels;
}

/**
 * x86_64: the direct map starts at `page_offset_base` (a variable with KASLR or 5-level paging,
 * else __PAGE_OFFSET_BASE_L4); the image is at __START_KERNEL_map + (pa − phys_base).
 * arm64 (6.1, asm/memory.h): __va(pa) = pa − memstart_addr + PAGE_OFFSET with PAGE_OFFSET
 * −2^VA_BITS, and __pa_symbol(va) = va − kimage_voffset. VA_BITS = PGDIR_SHIFT + log2(PTRS_PER_PGD).
 */
export async function kernelMemory(target: Target, gdb: GdbBackend): Promise<KernelMemory> {
  if (target.arch === 'x86_64') {
    const base = await target.symbol('page_offset_base');
    const l5 = await target.symbol('__pgtable_l5_enabled');
    const la57 = l5 !== undefined && ((await target.readVirtual(l5, 4))[0] ?? 0) !== 0;
    const pageOffset = base !== undefined ? await readU64(target, base) : la57 ? 0xff11000000000000n : 0xffff888000000000n;
    const physBase = await readU64(target, await symbolAddress(target, 'phys_base'));
    const startKernelMap = 0xffffffff80000000n;
    return {
      directMap: { pageOffset, physOffset: 0n },
      imagePhys: (va) => va - startKernelMap + physBase,
      paging: { la57, pti: false },
    };
  }
  const granule = await sizeOf(gdb, 'empty_zero_page');
  const ptrsPerPgd = ((await sizeOf(gdb, 'swapper_pg_dir')) ?? 0) / 8;
  if (granule !== 4096 && granule !== 16384 && granule !== 65536) throw new UnsupportedError('arm64', `page walks without TCR_EL1 (cannot tell PAGE_SIZE: sizeof(empty_zero_page) = ${granule})`);
  if (!Number.isInteger(Math.log2(ptrsPerPgd)) || ptrsPerPgd < 2) throw new UnsupportedError('arm64', `page walks without TCR_EL1 (PTRS_PER_PGD from sizeof(swapper_pg_dir) is ${ptrsPerPgd})`);
  const levels = await pgtableLevels(gdb);
  const pageShift = Math.log2(granule);
  const vaBits = pageShift + (levels - 1) * (pageShift - 3) + Math.log2(ptrsPerPgd);
  const memstart = await readU64(target, await symbolAddress(target, 'memstart_addr'));
  const voffset = await readU64(target, await symbolAddress(target, 'kimage_voffset'));
  const pageOffset = BigInt.asUintN(64, -(1n << BigInt(vaBits)));
  return {
    directMap: { pageOffset, physOffset: memstart },
    imagePhys: (va) => va - voffset,
    paging: { granule, vaBits, levels },
  };
}

/**
 * LiveTarget for kgdb: CPUs are the shadow threads, and physical reads go through the direct
 * map. Needs the kernel stopped, like every Target.
 */
export class KgdbTarget extends LiveTarget {
  private cpuThreads: Promise<CpuThread[]> | undefined;
  private memory: Promise<KernelMemory> | undefined;

  constructor(private readonly kgdbGdb: GdbBackend, arch: Arch, preferredThread?: () => number | undefined) {
    super(kgdbGdb, arch, { qemu: () => false, preferredThread });
  }

  override invalidate(): void {
    super.invalidate();
    this.cpuThreads = undefined;
    // The memory layout does not move while the kernel runs; only a new session changes it.
  }

  override threads(): Promise<CpuThread[]> {
    this.cpuThreads ??= kgdbCpuThreads(this.kgdbGdb);
    this.cpuThreads.catch(() => (this.cpuThreads = undefined));
    return this.cpuThreads;
  }

  override async readPhysical(address: bigint, length: number): Promise<Uint8Array> {
    const memory = await this.kernelMemory();
    return this.readVirtual(address - memory.directMap.physOffset + memory.directMap.pageOffset, length);
  }

  kernelMemory(): Promise<KernelMemory> {
    this.memory ??= kernelMemory(this, this.kgdbGdb);
    this.memory.catch(() => (this.memory = undefined));
    return this.memory;
  }
}
