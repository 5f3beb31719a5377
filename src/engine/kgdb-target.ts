/**
 * What gdb needs to know to work over kgdb, and how the CPUs are found among its threads.
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
import { parseFrame } from '../gdb/mi/stack';
import { threadInfo, type ThreadInfo } from '../gdb/mi/threads';
import { optStr, optTuple, str, tuples } from '../gdb/mi/values';
import { archOps } from '../kernel/arch';
import type { Arch } from '../kernel/target';
import type { CpuThread } from './kernel-views';
import { ignore } from './errors';

/** gdb settings for a kgdb line: long replies are slow, and hardware breakpoints never fire. */
export function kgdbGdbSettings(arch: Arch, remoteTimeoutSeconds = 30): string[] {
  // A memory reply is 2 hex digits per byte plus a NUL in kgdb's BUFMAX-byte buffer, and kgdb
  // does not check the length it is asked for (gdb_cmd_memread): stay below half of BUFMAX.
  const readPacket = archOps(arch).kgdb.bufmax - 24;
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
function cpuOfTid(tid: number): number | undefined {
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
  } catch (err) {
    // gdb without Python
    ignore(err, 'listing thread ids');
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
