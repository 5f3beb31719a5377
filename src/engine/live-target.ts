/**
 * The kernel `Target` over a live gdb: QEMU's gdbstub, or any connection (kgdb reads physical
 * memory through the kernel's direct map and finds its CPUs among the tasks: `LiveTargetOptions`).
 *
 * QEMU facts this leans on:
 * - The stub reads virtual memory through the *selected* vCPU's MMU, with that vCPU's privilege:
 *   a vCPU at EL0 (arm64) or on PTI's user CR3 (x86) cannot read kernel addresses. Reads go
 *   to a vCPU that is in the kernel with its MMU on.
 * - `Qqemu.PhyMemMode:1` switches the whole stub to physical reads until `:0`; while it is on,
 *   every other read (stack frames, variables) would be physical too.
 * - Registers come per vCPU with `-data-list-register-values --thread N`, under QEMU's names
 *   (`cr3`, `TTBR1_EL1`, `SCTLR`), looked up in `-data-list-register-names` once.
 *
 * Everything read is cached until `invalidate()`, which the owner calls on every resume.
 * Symbols (absent ones too) and struct layouts come from the vmlinux and stay cached for the
 * session: the kernel helpers probe for symbols that exist only in some versions, and each
 * miss costs a gdb lookup. A symbol whose link address is stored per build id (layout-cache.ts)
 * costs no lookup: it is moved as gdb has moved the vmlinux, which one `&_text` tells.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { GdbBackend } from '../gdb/backend';
import { GdbError } from '../gdb/errors';
import * as data from '../gdb/mi/data';
import { cpuMode, irqsDisabled, type CpuMode } from '../kernel/cpu-mode';
import { physToVirt, type DirectMap } from '../kernel/memory-model';
import { walk } from '../kernel/pagetable';
import { FaultError, UnsupportedError, type Arch, type MemberLayout, type StructLayout } from '../kernel/target';
import type { CpuThread, ViewTarget } from './kernel-views';
import { ignore } from './errors';
import type { LayoutStore } from './layout-cache';
import { everyThreadIsACpu } from './threads';

/**
 * How physical memory is read: the stub's own physical mode (QEMU's PhyMemMode), through the
 * kernel's direct map (kgdb), or not at all (a stub without either).
 */
export type PhysicalAccess = 'stub' | 'direct-map' | 'none';

export interface LiveTargetOptions {
  /** Asked at each physical read: what the stub can do is known only once gdb has connected. */
  physical: () => PhysicalAccess;
  /** Where the direct map is, for 'direct-map' physical reads. */
  directMap?: () => Promise<DirectMap>;
  /** The CPU threads of a stop; default every thread (QEMU), kgdb: the shadow CPU threads. */
  cpuThreads?: (gdb: GdbBackend) => Promise<CpuThread[]>;
  /** Thread to prefer for kernel reads, e.g. the one that stopped; asked on each stop. */
  preferredThread?: () => number | undefined;
  /** Layouts kept across sessions (per vmlinux build id): asked before gdb, told what gdb says. */
  layouts?: Promise<LayoutStore | undefined>;
  /**
   * How far gdb has put the vmlinux from its link addresses, where the owner knows it (it moved
   * the symbols itself); undefined: gdb's `&_text` tells.
   */
  placement?: () => bigint | undefined;
  /**
   * Kernel virtual memory read past gdb, straight from the stub (the task overlay's own reads,
   * which send a long read's packets back to back), tried before gdb; gdb reads what it refuses.
   */
  readDirect?: (address: bigint, length: number) => Promise<Uint8Array>;
}

export class LiveTarget implements ViewTarget {
  /** MI commands sent so far, for measuring what a request costs. */
  commands = 0;
  private registerNumbers: Promise<Map<string, number>> | undefined;
  private readonly symbols = new Map<string, Promise<bigint | undefined>>();
  /** How far gdb has moved the vmlinux from its link addresses (KASLR); undefined: unknown. */
  private slide: Promise<bigint | undefined> | undefined;
  private readonly layouts = new Map<string, Promise<StructLayout | undefined>>();
  // ---- per stop ----
  private threadList: Promise<CpuThread[]> | undefined;
  private readonly registerCache = new Map<number, Map<string, Promise<bigint | undefined>>>();
  private readonly virtualCache = new ReadCache();
  private readonly physicalCache = new ReadCache();
  private kernelThreadId: Promise<number | undefined> | undefined;
  /** Serialises PhyMemMode windows, so two physical reads never interleave their toggles. */
  private physicalQueue: Promise<unknown> = Promise.resolve();
  /** gdb while a physicalBatch holds it in physical mode. */
  private window: Pick<GdbBackend, 'send'> | undefined;
  /**
   * Set in the batch's own calls: what they would send outside the window would wait for the
   * window to close, forever. Other requests' reads meanwhile simply wait for gdb.
   */
  private readonly inBatch = new AsyncLocalStorage<boolean>();

  constructor(private readonly gdb: GdbBackend, readonly arch: Arch, private readonly options: LiveTargetOptions) {}

  /** Forgets everything read from the target; call on every resume. */
  invalidate(): void {
    this.threadList = undefined;
    this.registerCache.clear();
    this.virtualCache.clear();
    this.physicalCache.clear();
    this.kernelThreadId = undefined;
  }

  /** The vmlinux's symbols moved (relocated by the KASLR slide): their addresses are read again. */
  forgetSymbols(): void {
    this.symbols.clear();
    this.slide = undefined;
  }

  // ---- Target ----

  readVirtual(address: bigint, length: number): Promise<Uint8Array> {
    return this.virtualCache.read(address, length, () => this.readVirtualNow(address, length));
  }

  readPhysical(address: bigint, length: number): Promise<Uint8Array> {
    const window = this.window;
    if (window) return this.physicalCache.read(address, length, () => this.readInWindow(window, address, length));
    const access = this.options.physical();
    if (access === 'direct-map') return this.readThroughDirectMap(address, length);
    if (access !== 'stub') return Promise.reject(new UnsupportedError('this remote', 'physical memory reads (QEMU gdbstub only)'));
    return this.physicalCache.read(address, length, () => {
      const run = this.physicalQueue.then(() => this.readPhysicalNow(address, length));
      this.physicalQueue = run.catch(() => undefined);
      return run;
    });
  }

  /**
   * Runs `fn` (a page walk) with QEMU's physical-memory mode switched on once around all its
   * physical reads, rather than on and off around each: gdb is held for it meanwhile (nothing
   * else may be read in physical mode). Inside, `fn` may read physical memory and registers
   * already read in this stop, nothing else. Elsewhere, just `fn()`.
   */
  async physicalBatch<T>(fn: () => Promise<T>): Promise<T> {
    if (this.options.physical() !== 'stub' || this.window) return fn();
    const run = this.physicalQueue.then(() =>
      this.gdb.exclusive(async (g) => {
        this.commands++;
        const on = (await g.send('-interpreter-exec', ['console', 'maint packet Qqemu.PhyMemMode:1'])).console;
        if (!/received: "OK"/.test(on)) throw new UnsupportedError('this QEMU', `physical memory reads (Qqemu.PhyMemMode:1 answered ${on.trim()})`);
        this.window = g;
        try {
          return await this.inBatch.run(true, fn);
        } finally {
          this.window = undefined;
          this.commands++;
          const off = await g.send('-interpreter-exec', ['console', 'maint packet Qqemu.PhyMemMode:0']).then((r) => r.console, (e: unknown) => String(e));
          if (!/received: "OK"/.test(off)) throw new Error(`QEMU's gdbstub may still be in physical-memory mode (Qqemu.PhyMemMode:0 answered ${off.trim()})`);
        }
      }),
    );
    this.physicalQueue = run.catch(() => undefined);
    return run;
  }

  async registers(cpu: number, names: readonly string[]): Promise<Map<string, bigint>> {
    const numbers = await this.numbers();
    let have = this.registerCache.get(cpu);
    if (!have) this.registerCache.set(cpu, (have = new Map()));
    // One command for every register not read (or being read) yet on this CPU in this stop.
    const missing = names.filter((n) => !have.has(n) && numbers.has(n));
    if (missing.length > 0) {
      if (this.inBatch.getStore()) throw new Error('registers not read before a physical batch cannot be read inside it');
      const batch = this.threadOf(cpu).then((thread) => {
        this.commands++;
        return data.registerValues(this.gdb, missing.map((n) => numbers.get(n)!), { thread });
      });
      for (const n of missing) have.set(n, batch.then((values) => parseRegister(values.get(numbers.get(n)!))));
      batch.catch(() => missing.forEach((n) => have.delete(n)));
    }
    const out = new Map<string, bigint>();
    for (const n of names) {
      const value = await have.get(n);
      if (value !== undefined) out.set(n, value);
    }
    return out;
  }

  symbol(name: string): Promise<bigint | undefined> {
    return cached(this.symbols, name, async () => {
      const stored = await this.storedSymbol(name);
      if (stored !== undefined) return stored ?? undefined;
      this.commands++;
      try {
        return parseAddress(await data.evaluate(this.gdb, `&${name}`));
      } catch (e) {
        if (e instanceof GdbError && /No symbol|not defined/i.test(e.message)) return undefined;
        throw e;
      }
    });
  }

  /**
   * A symbol's address from its stored link address, where gdb has put the vmlinux: moved by the
   * placement the owner knows, or as much as gdb's `&_text` is from `_text`'s link address (a
   * lookup of its own, 4-10 ms even after others). Symbols linked below the kernel half (x86_64's
   * per-CPU offsets, which KASLR leaves alone) stay where they are linked.
   * null when the vmlinux has no such symbol; undefined when the store does not know the name
   * (yet), or gdb's placement cannot be told.
   */
  private async storedSymbol(name: string): Promise<bigint | null | undefined> {
    const store = await this.options.layouts;
    const linked = store?.linked?.(name);
    if (linked === undefined || linked === null) return linked;
    const slide = this.options.placement?.() ?? (await (this.slide ??= this.gdbSlide(store!)));
    if (slide === undefined) return undefined;
    return linked >= KERNEL_HALF ? BigInt.asUintN(64, linked + slide) : linked;
  }

  private async gdbSlide(store: LayoutStore): Promise<bigint | undefined> {
    const text = store.linked?.('_text');
    if (text === undefined || text === null) return undefined;
    this.commands++;
    try {
      const at = parseAddress(await data.evaluate(this.gdb, '&_text'));
      return at === undefined ? undefined : BigInt.asUintN(64, at - text);
    } catch (e) {
      if (e instanceof GdbError) return undefined;
      throw e;
    }
  }

  layout(structName: string): Promise<StructLayout | undefined> {
    const name = structName.replace(/^struct\s+/, '');
    return cached(this.layouts, name, async () => {
      const store = await this.options.layouts;
      const stored = store?.get(name);
      if (stored !== undefined) return stored ?? undefined;
      this.commands++;
      let layout: StructLayout | undefined;
      try {
        layout = parsePtype(await this.gdb.console(`ptype/o struct ${name}`, 120_000), name);
      } catch (e) {
        if (!(e instanceof GdbError && /No struct type named/.test(e.message))) throw e;
      }
      store?.put(name, layout);
      return layout;
    });
  }

  async cpus(): Promise<number> {
    return (await this.threads()).length;
  }

  // ---- beyond Target: what the kernel views need from the same stop ----

  /** The CPUs of this stop, once per stop: each one's thread, CPU number and frame. */
  threads(): Promise<CpuThread[]> {
    this.threadList ??= (async () => {
      this.commands++;
      return (this.options.cpuThreads ?? everyThreadIsACpu)(this.gdb);
    })();
    this.threadList.catch(() => (this.threadList = undefined));
    return this.threadList;
  }

  mode(cpu: number): Promise<CpuMode> {
    return cpuMode(this, cpu);
  }

  irqsDisabled(cpu: number): Promise<boolean | undefined> {
    return irqsDisabled(this, cpu);
  }

  /** Value of a C expression as a 64-bit unsigned number (an address, usually). */
  async evaluateAddress(expression: string): Promise<bigint> {
    const thread = await this.kernelThread();
    this.commands++;
    const text = await data.evaluate(this.gdb, `(unsigned long)(${expression})`, thread === undefined ? {} : { thread });
    const m = /^(0x[0-9a-fA-F]+|\d+)/.exec(text.trim());
    if (!m) throw new GdbError(expression, `'${expression}' is not a number: ${text}`);
    return BigInt.asUintN(64, BigInt(m[1]));
  }

  /** A vCPU in kernel mode with its MMU on, the preferred one first; undefined if none is. */
  kernelThread(): Promise<number | undefined> {
    this.kernelThreadId ??= (async () => {
      const threads = await this.threads();
      const preferred = this.options.preferredThread?.();
      const ordered = [...threads].sort((a, b) => Number(b.threadId === preferred) - Number(a.threadId === preferred));
      for (const t of ordered) if ((await this.mode(t.cpu)) === 'kernel') return t.threadId;
      return undefined;
    })();
    return this.kernelThreadId;
  }

  // ---- internals ----

  private async readVirtualNow(address: bigint, length: number): Promise<Uint8Array> {
    if (this.inBatch.getStore()) throw new Error('virtual memory cannot be read inside a physical batch');
    if (this.options.readDirect) {
      try {
        return await this.options.readDirect(address, length);
      } catch (err) {
        ignore(err, 'reading kernel memory past gdb');
      }
    }
    const thread = await this.kernelThread();
    let why = 'no vCPU is in kernel mode';
    if (thread !== undefined) {
      try {
        this.commands++;
        const bytes = await data.readMemory(this.gdb, address, length, { thread });
        if (bytes.length === length) return bytes;
        why = `only ${bytes.length} bytes readable`;
      } catch (e) {
        if (!(e instanceof GdbError)) throw e;
        why = e.message;
      }
    }
    // The vCPU's MMU refused (or no vCPU is in the kernel): translate with the kernel's page
    // tables ourselves and read physical memory, which does not depend on any vCPU's mode.
    if (this.options.physical() !== 'stub') throw new FaultError(address, length, why);
    return this.readThroughPageTables(address, length, why);
  }

  private async readThroughPageTables(address: bigint, length: number, why: string): Promise<Uint8Array> {
    const cpu = (await this.threads()).find((t) => t.threadId === (this.options.preferredThread?.() ?? -1))?.cpu ?? 0;
    const out = new Uint8Array(length);
    for (let done = 0; done < length; ) {
      const va = address + BigInt(done);
      const w = await walk(this, va, { cpu });
      if (w.phys === null || w.pageSize === null) throw new FaultError(address, length, `${why}; page walk: ${w.fault ?? 'unmapped'}`);
      const n = Math.min(length - done, Number(w.pageSize - (va & (w.pageSize - 1n))));
      out.set(await this.readPhysical(w.phys, n), done);
      done += n;
    }
    return out;
  }

  /** One read in an open physical window: the mode is already on. */
  private async readInWindow(g: Pick<GdbBackend, 'send'>, address: bigint, length: number): Promise<Uint8Array> {
    this.commands++;
    let bytes: Uint8Array;
    try {
      bytes = await data.readMemory(g, address, length);
    } catch (e) {
      if (e instanceof GdbError) throw new FaultError(address, length, `physical: ${e.message}`);
      throw e;
    }
    if (bytes.length < length) throw new FaultError(address, length, `physical: only ${bytes.length} bytes readable`);
    return bytes;
  }

  /** kgdb: physical memory is where the direct map shows it. */
  private async readThroughDirectMap(address: bigint, length: number): Promise<Uint8Array> {
    if (!this.options.directMap) throw new UnsupportedError('this remote', 'physical memory reads (no direct map known)');
    return this.readVirtual(physToVirt(await this.options.directMap(), address), length);
  }

  /**
   * Switch, read, switch back, sent back to back: gdb runs MI commands in the order it gets
   * them, so nothing another caller sends can land inside the physical window, and the switch
   * back is already queued whatever happens to the read.
   */
  private async readPhysicalNow(address: bigint, length: number): Promise<Uint8Array> {
    this.commands += 3;
    const on = this.gdb.console('maint packet Qqemu.PhyMemMode:1');
    const read = data.readMemory(this.gdb, address, length);
    const off = this.gdb.console('maint packet Qqemu.PhyMemMode:0');
    const [switched, bytes, restored] = await Promise.allSettled([on, read, off]);
    if (restored.status === 'rejected' || !/received: "OK"/.test(restored.value)) {
      const text = restored.status === 'rejected' ? String(restored.reason) : restored.value.trim();
      throw new Error(`QEMU's gdbstub may still be in physical-memory mode (Qqemu.PhyMemMode:0 answered ${text})`);
    }
    if (switched.status === 'rejected') throw switched.reason;
    if (!/received: "OK"/.test(switched.value)) throw new UnsupportedError('this QEMU', `physical memory reads (Qqemu.PhyMemMode:1 answered ${switched.value.trim()})`);
    if (bytes.status === 'rejected') {
      if (bytes.reason instanceof GdbError) throw new FaultError(address, length, `physical: ${bytes.reason.message}`);
      throw bytes.reason;
    }
    if (bytes.value.length < length) throw new FaultError(address, length, `physical: only ${bytes.value.length} bytes readable`);
    return bytes.value;
  }

  private numbers(): Promise<Map<string, number>> {
    this.registerNumbers ??= (async () => {
      this.commands++;
      const names = await data.registerNames(this.gdb);
      const map = new Map<string, number>();
      names.forEach((n, i) => n && !map.has(n) && map.set(n, i));
      return map;
    })();
    this.registerNumbers.catch(() => (this.registerNumbers = undefined));
    return this.registerNumbers;
  }

  private async threadOf(cpu: number): Promise<number> {
    const t = (await this.threads()).find((x) => x.cpu === cpu);
    if (!t) throw new RangeError(`no CPU ${cpu}: the target has ${(await this.threads()).length}`);
    return t.threadId;
  }
}

const KERNEL_HALF = 1n << 63n;

/**
 * Reads of one stop. A read inside an earlier, larger one is served from it: helpers read
 * whole spans (all of `__per_cpu_offset[]`, a task's fields), then single words within them.
 */
class ReadCache {
  private readonly pending = new Map<string, Promise<Uint8Array>>();
  private done: Array<{ address: bigint; bytes: Uint8Array }> = [];
  private generation = 0;

  read(address: bigint, length: number, make: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const end = address + BigInt(length);
    const hit = this.done.find((d) => address >= d.address && end <= d.address + BigInt(d.bytes.length));
    if (hit) {
      const at = Number(address - hit.address);
      return Promise.resolve(hit.bytes.slice(at, at + length));
    }
    const generation = this.generation;
    return cached(this.pending, `${address}:${length}`, async () => {
      const bytes = await make();
      // A read that finishes after a resume belongs to the old stop.
      if (generation === this.generation) this.done.push({ address, bytes });
      return bytes;
    });
  }

  clear(): void {
    this.generation++;
    this.pending.clear();
    this.done = [];
  }
}

/** A cache of promises that forgets failures, so a transient error is not remembered. */
function cached<K, V>(map: Map<K, Promise<V>>, key: K, make: () => Promise<V>): Promise<V> {
  let p = map.get(key);
  if (!p) {
    p = make();
    map.set(key, p);
    p.catch(() => map.get(key) === p && map.delete(key));
  }
  return p;
}

function parseRegister(text: string | undefined): bigint | undefined {
  if (text === undefined) return undefined;
  const m = /^\s*(0x[0-9a-fA-F]+|-?\d+)\s*$/.exec(text);
  return m ? BigInt.asUintN(64, BigInt(m[1])) : undefined;
}

/** `0x31980 <runqueues>`, `(void (*)(void)) 0xffffffff81000000 <_stext>` → the address. */
export function parseAddress(text: string): bigint | undefined {
  const m = /(0x[0-9a-fA-F]+)(?:\s*<[^>]*>)?\s*$/.exec(text.trim());
  return m ? BigInt(m[1]) : undefined;
}

// ---- `ptype/o struct NAME` ----
//
// Why ptype/o rather than one `&((struct X *)0)->m` per member: Target.layout() promises every
// member, so the set is not known in advance, and one local command (no RSP traffic) answers
// for all. The first lookup of a big struct costs 0.3-0.8 s while gdb expands its DWARF (a
// per-member query pays that too); after that `ptype/o struct task_struct` takes ~0.1 s.
//
// What gdb 13 prints: absolute offsets for every member, nested struct/union types expanded in
// place, union members without an offset (they sit at the union's), bitfields as `off: bit`:
//
//   /* offset      |    size */  type = struct task_struct {
//   /*      0      |      24 */    struct thread_info {
//   /*      0      |       8 */        unsigned long flags;
//                                  } thread_info;
//   /*     64      |       4 */        union {
//   /*                     4 */            unsigned int u_flags;
//                                      };
//   /*   2340: 0   |       4 */    unsigned int sched_reset_on_fork : 1;
//                                 /* total size (bytes): 9728 */
//                               }

interface Aggregate {
  offset: number;
  size: number;
  type: string;
  members: Array<[string, MemberLayout]>;
}

const NUMBER = '(0x[0-9a-fA-F]+|\\d+)';
const MEMBER_LINE = new RegExp(`^/\\*\\s*(?:${NUMBER}(?::\\s*${NUMBER})?\\s*\\|)?\\s*${NUMBER}\\s*\\*/\\s*(.*)$`);
const TOTAL_LINE = new RegExp(`total size \\(bytes\\):\\s*${NUMBER}`);
const CLOSE_LINE = /^}\s*([A-Za-z_]\w*)?((?:\[[^\]]*\])*)\s*;/;

/**
 * Members of anonymous structs and unions are listed under their own names, as C reaches them
 * (`mm->pgd` through mm_struct's anonymous struct); members of named nested aggregates also
 * under dotted paths (`se.vruntime`). A bitfield gets its storage unit's offset and size.
 */
export function parsePtype(text: string, name: string): StructLayout | undefined {
  const stack: Aggregate[] = [];
  let size: number | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('/* XXX')) continue;
    if (stack.length === 0) {
      const header = /type = (struct|union)\b[^{]*\{$/.exec(line);
      if (header) stack.push({ offset: 0, size: 0, type: `${header[1]} ${name}`, members: [] });
      continue;
    }
    const total = TOTAL_LINE.exec(line);
    if (total) {
      if (stack.length === 1) size = Number(total[1]);
      continue;
    }
    const frame = stack[stack.length - 1];
    if (line.startsWith('}')) {
      if (stack.length === 1) break; // the struct's own closing brace
      stack.pop();
      const parent = stack[stack.length - 1];
      const close = CLOSE_LINE.exec(line);
      const memberName = close?.[1];
      if (!memberName) {
        parent.members.push(...frame.members);
        continue;
      }
      parent.members.push([memberName, { offset: frame.offset, size: frame.size, type: close[2] ? `${frame.type} ${close[2]}` : frame.type }]);
      for (const [child, m] of frame.members) parent.members.push([`${memberName}.${child}`, m]);
      continue;
    }
    const m = MEMBER_LINE.exec(line);
    if (!m) continue;
    const offset = m[1] === undefined ? frame.offset : Number(m[1]);
    const bytes = Number(m[3]);
    const open = /^((?:struct|union)(?:\s+[A-Za-z_]\w*)?)\s*\{$/.exec(m[4]);
    if (open) {
      stack.push({ offset, size: bytes, type: open[1], members: [] });
      continue;
    }
    const decl = parseDeclaration(m[4]);
    // `u8 level : 3;` at `19: 5`: gdb prints the bit inside the byte, the width is the C's.
    const width = /:\s*(\d+)\s*;?\s*$/.exec(m[4]);
    const bits = width ? { bitOffset: m[2] === undefined ? 0 : Number(m[2]), bitSize: Number(width[1]) } : {};
    if (decl) frame.members.push([decl.name, { offset, size: bytes, type: decl.type, ...bits }]);
  }
  const top = stack[0];
  if (!top) return undefined;
  const members = new Map<string, MemberLayout>();
  // The first of two same-named entries wins: the struct's own member over a flattened namesake.
  for (const [n, m] of top.members) if (!members.has(n)) members.set(n, m);
  const end = Math.max(0, ...[...members.values()].map((m) => m.offset + m.size));
  return { name, size: size ?? end, members };
}

/** `struct list_head *next;` → next: `struct list_head *`; `char comm[16];` → comm: `char [16]`. */
export function parseDeclaration(text: string): { name: string; type: string } | undefined {
  const decl = text.replace(/;\s*$/, '').replace(/\s*:\s*\d+$/, '').trim();
  const fn = /\(\s*\*+\s*([A-Za-z_]\w*)\s*\)/.exec(decl);
  if (fn) return { name: fn[1], type: `${decl.slice(0, fn.index)}(*)${decl.slice(fn.index + fn[0].length)}`.trim() };
  const m = /^(.*?)\s*\b([A-Za-z_]\w*)((?:\[[^\]]*\])*)$/.exec(decl);
  if (!m || m[1] === '') return undefined;
  return { name: m[2], type: m[3] ? `${m[1]} ${m[3]}` : m[1] };
}
