import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { GdbBackend, MIResult } from '../../../src/gdb/backend';
import { GdbError } from '../../../src/gdb/errors';
import type { MITuple } from '../../../src/gdb/mi/parser';
import { LiveTarget, parseAddress, parseDeclaration, parsePtype } from '../../../src/engine/live-target';
import type { LayoutStore } from '../../../src/engine/layout-cache';
import { FaultError, UnsupportedError, type Arch } from '../../../src/kernel/target';

/**
 * Stands in for gdb + QEMU's gdbstub: two memories (virtual per thread, physical), the
 * PhyMemMode switch, registers per thread. Every command is logged when it is sent, as the
 * real backend writes it to gdb's stdin at once.
 */
class FakeGdb {
  log: string[] = [];
  physMode = false;
  physical = new Map<bigint, number>();
  /** Virtual memory readable from a thread (QEMU: only from a vCPU in kernel mode). */
  virtual = new Map<bigint, number>();
  kernelThreads = new Set<number>();
  registerNames = ['rax', 'cs', 'eflags', 'cr0', 'cr3', 'cr4'];
  registers = new Map<number, Record<string, string>>();
  threads: Array<{ id: number; cpu: number }> = [];
  fail: Record<string, string> = {};
  /** What the stub answers to Qqemu.PhyMemMode:1 (a stub without the packet answers ""). */
  phyMemReply = 'OK';

  private gate: Promise<void> | undefined;

  /** As the backend's: others' commands wait until `fn` ends. */
  async exclusive<T>(fn: (g: { send: FakeGdb['sendNow'] }) => Promise<T>): Promise<T> {
    while (this.gate) await this.gate;
    let release!: () => void;
    this.gate = new Promise<void>((r) => (release = r));
    try {
      return await fn({ send: (op, args) => this.sendNow(op, args) });
    } finally {
      this.gate = undefined;
      release();
    }
  }

  send(op: string, args: readonly string[] = []): Promise<MIResult> {
    if (this.gate) return this.gate.then(() => this.send(op, args));
    return this.sendNow(op, args);
  }

  onSend: ((command: string) => void) | undefined;

  sendNow(op: string, args: readonly string[] = []): Promise<MIResult> {
    const command = [op, ...args].join(' ');
    this.log.push(command);
    this.onSend?.(command);
    const reply = (): MIResult => this.answer(command, op, [...args]);
    return new Promise((resolve, reject) => setImmediate(() => {
      try {
        resolve(reply());
      } catch (e) {
        reject(e);
      }
    }));
  }

  async console(cli: string): Promise<string> {
    return (await this.send('-interpreter-exec', ['console', cli])).console;
  }

  private answer(command: string, op: string, args: string[]): MIResult {
    const done = (results: MITuple, console = ''): MIResult => ({ cls: 'done', results, console });
    for (const [pattern, message] of Object.entries(this.fail)) if (command.includes(pattern)) throw new GdbError(command, message);
    let thread: number | undefined;
    if (args[0] === '--thread') {
      thread = Number(args[1]);
      args = args.slice(2);
    }
    switch (op) {
      case '-interpreter-exec': {
        const m = /^maint packet Qqemu\.PhyMemMode:([01])$/.exec(args[1]);
        if (m) {
          const reply = m[1] === '1' ? this.phyMemReply : 'OK';
          if (reply === 'OK') this.physMode = m[1] === '1';
          return done({}, `sending: "Qqemu.PhyMemMode:${m[1]}"\nreceived: "${reply}"\n`);
        }
        throw new GdbError(command, 'unexpected console command');
      }
      case '-data-read-memory-bytes': {
        const address = BigInt(args[0]);
        const length = Number(args[1]);
        const memory = this.physMode ? this.physical : this.virtual;
        if (!this.physMode && (thread === undefined || !this.kernelThreads.has(thread))) {
          throw new GdbError(command, `Cannot access memory at address 0x${address.toString(16)}`);
        }
        const bytes: number[] = [];
        for (let i = 0n; i < BigInt(length); i++) {
          const b = memory.get(address + i);
          if (b === undefined) throw new GdbError(command, `Cannot access memory at address 0x${(address + i).toString(16)}`);
          bytes.push(b);
        }
        return done({ memory: [{ begin: `0x${address.toString(16)}`, offset: '0x0', end: '', contents: Buffer.from(bytes).toString('hex') }] });
      }
      case '-thread-info':
        return done({ threads: this.threads.map((t) => ({ id: String(t.id), 'target-id': `Thread 1.${t.id}`, details: `CPU#${t.cpu} [running]`, state: 'stopped' })) });
      case '-data-list-register-names':
        return done({ 'register-names': this.registerNames });
      case '-data-list-register-values': {
        const values = this.registers.get(thread ?? 1) ?? {};
        const numbers = args.filter((a) => /^\d+$/.test(a)).map(Number);
        return done({ 'register-values': numbers.filter((n) => values[this.registerNames[n]] !== undefined).map((n) => ({ number: String(n), value: values[this.registerNames[n]] })) });
      }
      case '-data-evaluate-expression': {
        const expr = args[0];
        if (expr === '&runqueues') return done({ value: '0x31980 <runqueues>' });
        // The vmlinux moved by 0x1e000000 (KASLR).
        if (expr === '&_text') return done({ value: '(<text variable, no debug info> *) 0xffffffff9f000000 <_text>' });
        throw new GdbError(command, `No symbol "${expr.slice(1)}" in current context.`);
      }
    }
    throw new GdbError(command, `unexpected ${op}`);
  }

  write(map: Map<bigint, number>, address: bigint, bytes: ArrayLike<number>): void {
    for (let i = 0; i < bytes.length; i++) map.set(address + BigInt(i), bytes[i]);
  }

  writeU64(map: Map<bigint, number>, address: bigint, value: bigint): void {
    const b: number[] = [];
    for (let i = 0n; i < 8n; i++) b.push(Number((value >> (8n * i)) & 0xffn));
    this.write(map, address, b);
  }
}

function target(fake: FakeGdb, arch: Arch = 'x86_64', qemu = true, preferred?: number): LiveTarget {
  return new LiveTarget(fake as unknown as GdbBackend, arch, { physical: () => (qemu ? 'stub' : 'none'), preferredThread: () => preferred });
}

function twoCpus(): FakeGdb {
  const fake = new FakeGdb();
  fake.threads = [{ id: 1, cpu: 0 }, { id: 2, cpu: 1 }];
  // CPU 0 in user mode (CS RPL 3), CPU 1 in the kernel; both with paging on.
  fake.registers.set(1, { cs: '0x33', eflags: '0x246', cr0: '0x80050033', cr3: '0x542e000', cr4: '0x6b0' });
  fake.registers.set(2, { cs: '0x10', eflags: '0x46', cr0: '0x80050033', cr3: '0x2a10000', cr4: '0x6b0' });
  fake.kernelThreads.add(2);
  return fake;
}

describe('LiveTarget physical reads', () => {
  test('switch, read, switch back are sent back to back, nothing in between', async () => {
    const fake = twoCpus();
    fake.write(fake.physical, 0x2a079c0n, [1, 2, 3, 4]);
    fake.write(fake.virtual, 0xffffffff82a079c0n, [9, 9, 9, 9]);
    const t = target(fake);
    await t.threads();
    await t.kernelThread();
    fake.log = [];
    const [phys, virt] = await Promise.all([t.readPhysical(0x2a079c0n, 4), t.readVirtual(0xffffffff82a079c0n, 4)]);
    assert.deepEqual([...phys], [1, 2, 3, 4]);
    assert.deepEqual([...virt], [9, 9, 9, 9]);
    const on = fake.log.indexOf('-interpreter-exec console maint packet Qqemu.PhyMemMode:1');
    assert.deepEqual(fake.log.slice(on, on + 3), [
      '-interpreter-exec console maint packet Qqemu.PhyMemMode:1',
      '-data-read-memory-bytes 0x2a079c0 4',
      '-interpreter-exec console maint packet Qqemu.PhyMemMode:0',
    ]);
    assert.equal(fake.physMode, false);
  });

  test('a batch switches once around all its physical reads, and holds gdb meanwhile', async () => {
    const fake = twoCpus();
    fake.write(fake.physical, 0x1000n, [1, 0, 0, 0, 0, 0, 0, 0]);
    fake.write(fake.physical, 0x2000n, [2, 0, 0, 0, 0, 0, 0, 0]);
    fake.write(fake.physical, 0x3000n, [3, 0, 0, 0, 0, 0, 0, 0]);
    fake.write(fake.virtual, 0xffffffff82a079c0n, [9, 9, 9, 9]);
    const t = target(fake);
    await t.threads();
    await t.kernelThread();
    await t.registers(1, ['cr3']);
    fake.log = [];
    // Another request reads virtual memory as the window opens: it waits for the switch back.
    let virtual: Promise<Uint8Array> | undefined;
    fake.onSend = (command) => {
      if (/PhyMemMode:1/.test(command)) virtual ??= t.readVirtual(0xffffffff82a079c0n, 4);
    };
    const levels = await t.physicalBatch(async () => {
      const out: number[] = [];
      for (const pa of [0x1000n, 0x2000n, 0x3000n]) out.push((await t.readPhysical(pa, 8))[0]);
      assert.equal((await t.registers(1, ['cr3'])).get('cr3'), 0x2a10000n, 'registers read before are served');
      return out;
    });
    assert.deepEqual(levels, [1, 2, 3]);
    assert.deepEqual([...(await virtual!)], [9, 9, 9, 9]);
    assert.deepEqual(fake.log, [
      '-interpreter-exec console maint packet Qqemu.PhyMemMode:1',
      '-data-read-memory-bytes 0x1000 8',
      '-data-read-memory-bytes 0x2000 8',
      '-data-read-memory-bytes 0x3000 8',
      '-interpreter-exec console maint packet Qqemu.PhyMemMode:0',
      '-data-read-memory-bytes --thread 2 0xffffffff82a079c0 4',
    ]);
    assert.equal(fake.physMode, false);
  });

  test('inside a batch, what would need virtual mode is refused rather than read physically', async () => {
    const fake = twoCpus();
    const t = target(fake);
    await t.kernelThread();
    await assert.rejects(t.physicalBatch(() => t.registers(0, ['cr4'])), /inside/);
    assert.equal(fake.physMode, false, 'switched back after the failure');
  });

  test('a failed read still switches back, and is a FaultError', async () => {
    const fake = twoCpus();
    const t = target(fake);
    await assert.rejects(t.readPhysical(0x7fff0000n, 8), (e: unknown) => e instanceof FaultError && e.address === 0x7fff0000n);
    assert.equal(fake.log.at(-1), '-interpreter-exec console maint packet Qqemu.PhyMemMode:0');
    assert.equal(fake.physMode, false);
  });

  test('a stub that refuses PhyMemMode gives an error, never the virtual bytes it read instead', async () => {
    const fake = twoCpus();
    fake.write(fake.virtual, 0x1000n, [1, 2, 3, 4, 5, 6, 7, 8]);
    fake.kernelThreads.add(1);
    fake.phyMemReply = '';
    await assert.rejects(target(fake).readPhysical(0x1000n, 8), UnsupportedError);
    fake.phyMemReply = 'OK';
    fake.fail['PhyMemMode:1'] = 'Remote failure reply: E22';
    await assert.rejects(target(fake).readPhysical(0x1000n, 8), (e: unknown) => e instanceof GdbError && /E22/.test(e.message));
    fake.fail = {};
    // and without a QEMU stub, nothing is sent at all
    const plain = new FakeGdb();
    await assert.rejects(target(plain, 'x86_64', false).readPhysical(0x1000n, 8), UnsupportedError);
    assert.deepEqual(plain.log, []);
  });

  test('when switching back fails the error says the stub may be left in physical mode', async () => {
    const fake = twoCpus();
    fake.write(fake.physical, 0x1000n, [0, 0, 0, 0, 0, 0, 0, 0]);
    fake.fail['PhyMemMode:0'] = 'Remote connection closed';
    await assert.rejects(target(fake).readPhysical(0x1000n, 8), /may still be in physical-memory mode/);
  });
});

describe('LiveTarget virtual reads and registers', () => {
  test('virtual reads go through a vCPU in kernel mode, and are cached until invalidate()', async () => {
    const fake = twoCpus();
    fake.write(fake.virtual, 0xffffffff82a079c0n, [0xfe, 0xdf, 0xfe, 0xff, 0, 0, 0, 0]);
    const t = target(fake, 'x86_64', true, 1);
    const bytes = await t.readVirtual(0xffffffff82a079c0n, 8);
    assert.deepEqual([...bytes], [0xfe, 0xdf, 0xfe, 0xff, 0, 0, 0, 0]);
    assert.ok(fake.log.includes('-data-read-memory-bytes --thread 2 0xffffffff82a079c0 8'), fake.log.join('\n'));
    const before = fake.log.length;
    await t.readVirtual(0xffffffff82a079c0n, 8);
    // a read inside an earlier one is served from it
    assert.deepEqual([...(await t.readVirtual(0xffffffff82a079c2n, 2))], [0xfe, 0xff]);
    assert.equal(fake.log.length, before);
    t.invalidate();
    await t.readVirtual(0xffffffff82a079c0n, 8);
    assert.ok(fake.log.length > before);
  });

  test('arm64: EL from cpsr, and a vCPU with its MMU off does not count as kernel', async () => {
    const fake = new FakeGdb();
    fake.registerNames = ['x0', 'cpsr', 'SCTLR', 'TTBR1_EL1'];
    fake.threads = [{ id: 1, cpu: 0 }, { id: 2, cpu: 1 }, { id: 3, cpu: 2 }];
    fake.registers.set(1, { cpsr: '0x60000000', SCTLR: '0x200000034f4d91d' }); // EL0t
    fake.registers.set(2, { cpsr: '0x3c5', SCTLR: '0xc50838' }); // EL1h, MMU off (not started)
    fake.registers.set(3, { cpsr: '0x400000c5', SCTLR: '0x200000034f4d91d' }); // EL1h, idle
    const t = target(fake, 'arm64');
    assert.deepEqual([await t.mode(0), await t.mode(1), await t.mode(2)], ['user', 'unknown', 'kernel']);
    assert.equal(await t.kernelThread(), 3);
    assert.equal(await t.irqsDisabled(2), true);
    assert.equal(await t.irqsDisabled(0), false);
  });

  test('when no vCPU can read it, the address is translated through the page tables', async () => {
    const fake = twoCpus();
    fake.kernelThreads.clear();
    // jiffies: PGD[511] PUD[510] PMD[21] 2 MiB page, tables as on the 6.1 fixture (CPU 1's CR3).
    fake.writeU64(fake.physical, 0x2a10000n + 511n * 8n, 0x2a15067n);
    fake.writeU64(fake.physical, 0x2a15000n + 510n * 8n, 0x2a16063n);
    fake.writeU64(fake.physical, 0x2a16000n + 21n * 8n, 0x8000000002a001e3n);
    fake.write(fake.physical, 0x2a079c0n, [7, 6, 5, 4]);
    const t = target(fake, 'x86_64', true, 2);
    assert.deepEqual([...(await t.readVirtual(0xffffffff82a079c0n, 4))], [7, 6, 5, 4]);
    assert.equal(fake.physMode, false);
    await assert.rejects(t.readVirtual(0xffffffff90000000n, 4), (e: unknown) => e instanceof FaultError && /page walk/.test(e.message));
  });

  test('register numbers are listed once; only registers not yet read are asked for', async () => {
    const fake = twoCpus();
    const t = target(fake);
    assert.deepEqual(await t.registers(1, ['cr3', 'cr4', 'nosuch']), new Map([['cr3', 0x2a10000n], ['cr4', 0x6b0n]]));
    await t.registers(1, ['cr3', 'cs']);
    const asked = fake.log.filter((l) => l.startsWith('-data-list-register'));
    assert.deepEqual(asked, [
      '-data-list-register-names',
      '-data-list-register-values --thread 2 --skip-unavailable x 4 5',
      '-data-list-register-values --thread 2 --skip-unavailable x 1',
    ]);
    await assert.rejects(t.registers(5, ['cr3']), /no CPU 5/);
  });

  test('symbols: present and absent ones are both cached for the session', async () => {
    const fake = twoCpus();
    const t = target(fake);
    assert.equal(await t.symbol('runqueues'), 0x31980n);
    assert.equal(await t.symbol('pcpu_hot'), undefined);
    t.invalidate();
    const n = fake.log.length;
    assert.equal(await t.symbol('pcpu_hot'), undefined);
    assert.equal(await t.symbol('runqueues'), 0x31980n);
    assert.equal(fake.log.length, n);
    assert.equal(t.commands, 2);
  });
});

describe('LiveTarget symbols stored per build id, and reads past gdb', () => {
  const stored = new Map<string, bigint | null>([
    ['_text', 0xffffffff81000000n],
    ['prb', 0xffffffff82a62540n],
    ['runqueues', 0x31980n],
    ['pcpu_hot', null],
  ]);
  const store: LayoutStore = { get: () => undefined, put: () => undefined, linked: (name) => stored.get(name) };

  test('a stored link address is moved as far as gdb moved _text; per-CPU offsets below the kernel half are not', async () => {
    const fake = twoCpus();
    const t = new LiveTarget(fake as unknown as GdbBackend, 'x86_64', { physical: () => 'stub', layouts: Promise.resolve(store) });
    assert.equal(await t.symbol('prb'), 0xffffffffa0a62540n);
    assert.equal(await t.symbol('runqueues'), 0x31980n);
    assert.equal(await t.symbol('pcpu_hot'), undefined, 'the vmlinux has none: gdb is not asked');
    assert.deepEqual(fake.log, ['-data-evaluate-expression &_text']);
    // A name the store does not know is gdb's.
    await t.symbol('init_task').catch(() => undefined);
    assert.equal(fake.log.length, 2);
    // Moved again: _text is asked again.
    t.forgetSymbols();
    await t.symbol('prb');
    assert.equal(fake.log.filter((c) => c.endsWith('&_text')).length, 2);
  });

  test('where the owner knows how far it moved the vmlinux, gdb is not asked where _text is', async () => {
    const fake = twoCpus();
    let placement: bigint | undefined = 0n;
    const t = new LiveTarget(fake as unknown as GdbBackend, 'x86_64', { physical: () => 'stub', layouts: Promise.resolve(store), placement: () => placement });
    assert.equal(await t.symbol('prb'), 0xffffffff82a62540n, 'not moved yet: the link address');
    placement = 0x1e000000n;
    t.forgetSymbols();
    assert.equal(await t.symbol('prb'), 0xffffffffa0a62540n);
    assert.equal(await t.symbol('runqueues'), 0x31980n, 'per-CPU offsets stay');
    assert.deepEqual(fake.log, []);
    // Unknown to the owner (a setup command loaded the symbols): gdb says.
    placement = undefined;
    t.forgetSymbols();
    assert.equal(await t.symbol('prb'), 0xffffffffa0a62540n);
    assert.deepEqual(fake.log, ['-data-evaluate-expression &_text']);
  });

  test('virtual reads go past gdb first; what that refuses, gdb reads', async () => {
    const fake = twoCpus();
    fake.write(fake.virtual, 0xffffffff82a079c0n, [1, 2, 3, 4]);
    const direct: bigint[] = [];
    const t = new LiveTarget(fake as unknown as GdbBackend, 'x86_64', {
      physical: () => 'stub',
      readDirect: async (address, length) => {
        direct.push(address);
        if (address === 0xffffffff82a079c0n) throw new FaultError(address, length, 'refused');
        return new Uint8Array(length).fill(7);
      },
    });
    assert.deepEqual([...(await t.readVirtual(0xffffffff81000000n, 2))], [7, 7]);
    assert.ok(!fake.log.some((c) => c.includes('read-memory')), fake.log.join('\n'));
    assert.deepEqual([...(await t.readVirtual(0xffffffff82a079c0n, 4))], [1, 2, 3, 4]);
    assert.deepEqual(direct, [0xffffffff81000000n, 0xffffffff82a079c0n]);
  });
});

describe('parsing gdb output', () => {
  // Excerpts of `ptype/o` from gdb 13.1 on the Debian 6.1 x86_64 vmlinux (task_struct, mm_struct).
  const taskStruct = `/* offset      |    size */  type = struct task_struct {
/*      0      |      24 */    struct thread_info {
/*      0      |       8 */        unsigned long flags;
/*      8      |       8 */        unsigned long syscall_work;
/*     16      |       4 */        u32 status;
/*     20      |       4 */        u32 cpu;

                                   /* total size (bytes):   24 */
                               } thread_info;
/*     24      |       4 */    unsigned int __state;
/* XXX  4-byte hole      */
/*     32      |       8 */    void *stack;
/*     56      |      16 */    struct __call_single_node {
/*     56      |       8 */        struct llist_node {
/*     56      |       8 */            struct llist_node *next;

                                       /* total size (bytes):    8 */
                                   } llist;
/*     64      |       4 */        union {
/*                     4 */            unsigned int u_flags;
/*                     4 */            atomic_t a_flags;

                                       /* total size (bytes):    4 */
                                   };
/*     68      |       2 */        u16 src;
/*     70      |       2 */        u16 dst;

                                   /* total size (bytes):   16 */
                               } wake_entry;
/*   2040      |       4 */    union rcu_special {
/*                     4 */        struct {
/*   2040      |       1 */            u8 blocked;
/*   2041      |       1 */            u8 need_qs;

                                       /* total size (bytes):    4 */
                                   } b;
/*                     4 */        u32 s;

                                   /* total size (bytes):    4 */
                               } rcu_read_unlock_special;
/*   2340: 0   |       4 */    unsigned int sched_reset_on_fork : 1;
/*   2368      |       8 */        long (*fn)(struct restart_block *);
/*   2416      |       4 */    pid_t pid;
/*   2976      |      16 */    char comm[16];
/*   3712      |      16 */    struct perf_event_context *perf_event_ctxp[2];

                               /* total size (bytes): 9728 */
                             }
`;
  const mmStruct = `/* offset      |    size */  type = struct mm_struct {
/*      0      |    1088 */    struct {
/*      0      |      24 */        struct maple_tree {
/*      0      |       4 */            union {
/*                     4 */                spinlock_t ma_lock;
/*                     0 */                lockdep_map_p ma_external_lock;

                                           /* total size (bytes):    4 */
                                       };
/* XXX  4-byte hole      */
/*      8      |       8 */            void *ma_root;

                                       /* total size (bytes):   24 */
                                   } mm_mt;
/*     24      |       8 */        unsigned long (*get_unmapped_area)(struct file *, unsigned long, unsigned long, unsigned long, unsigned long);
/*     72      |       8 */        pgd_t *pgd;

                                   /* total size (bytes): 1088 */
                               };
/*   1088      |       0 */    unsigned long cpu_bitmap[];

                               /* total size (bytes): 1088 */
                             }
`;

  test('ptype/o: members, nested paths, unions, bitfields, function pointers, size', () => {
    const l = parsePtype(taskStruct, 'task_struct')!;
    assert.equal(l.name, 'task_struct');
    assert.equal(l.size, 9728);
    const at = (n: string) => {
      const m = l.members.get(n);
      return m && [m.offset, m.size, m.type];
    };
    assert.deepEqual(at('thread_info'), [0, 24, 'struct thread_info']);
    assert.deepEqual(at('thread_info.cpu'), [20, 4, 'u32']);
    assert.deepEqual(at('stack'), [32, 8, 'void *']);
    assert.deepEqual(at('wake_entry.llist.next'), [56, 8, 'struct llist_node *']);
    assert.deepEqual(at('wake_entry.u_flags'), [64, 4, 'unsigned int'], 'anonymous union flattened into its parent');
    assert.deepEqual(at('wake_entry.a_flags'), [64, 4, 'atomic_t'], 'union members sit at the union');
    assert.deepEqual(at('rcu_read_unlock_special'), [2040, 4, 'union rcu_special']);
    assert.deepEqual(at('rcu_read_unlock_special.b.need_qs'), [2041, 1, 'u8']);
    assert.deepEqual(at('rcu_read_unlock_special.s'), [2040, 4, 'u32']);
    assert.deepEqual(at('sched_reset_on_fork'), [2340, 4, 'unsigned int']);
    assert.deepEqual(at('fn'), [2368, 8, 'long (*)(struct restart_block *)']);
    assert.deepEqual(at('pid'), [2416, 4, 'pid_t']);
    assert.deepEqual(at('comm'), [2976, 16, 'char [16]']);
    assert.deepEqual(at('perf_event_ctxp'), [3712, 16, 'struct perf_event_context * [2]']);
    assert.equal(l.members.has('u_flags'), false);
  });

  test('ptype/o: an anonymous struct’s members are reached directly, as mm->pgd', () => {
    const l = parsePtype(mmStruct, 'mm_struct')!;
    assert.equal(l.size, 1088);
    assert.equal(l.members.get('pgd')?.offset, 72);
    assert.equal(l.members.get('mm_mt.ma_root')?.offset, 8);
    assert.equal(l.members.get('get_unmapped_area')?.offset, 24);
    assert.equal(l.members.get('cpu_bitmap')?.offset, 1088);
    assert.equal(parsePtype('No struct type named nope.', 'nope'), undefined);
  });

  test('ptype/o: a bitfield keeps its bit position and width (printk_info, 6.1 x86_64)', () => {
    const text = [
      '/* offset      |    size */  type = struct printk_info {',
      '/*      0      |       8 */    u64 seq;',
      '/*     16      |       2 */    u16 text_len;',
      '/*     18      |       1 */    u8 facility;',
      '/*     19: 0   |       1 */    u8 flags : 5;',
      '/*     19: 5   |       1 */    u8 level : 3;',
      '/*     20      |       4 */    u32 caller_id;',
      '',
      '                               /* total size (bytes):   88 */',
      '                             }',
    ].join('\n');
    const l = parsePtype(text, 'printk_info')!;
    assert.deepEqual(l.members.get('flags'), { offset: 19, size: 1, type: 'u8', bitOffset: 0, bitSize: 5 });
    assert.deepEqual(l.members.get('level'), { offset: 19, size: 1, type: 'u8', bitOffset: 5, bitSize: 3 });
    assert.deepEqual(l.members.get('facility'), { offset: 18, size: 1, type: 'u8' }, 'not a bitfield');
  });

  test('ptype/ox (hex offsets) parses too', () => {
    const l = parsePtype('/* offset      |    size */  type = struct rq {\n/* 0x0004      |  0x0004 */    unsigned int nr_running;\n/* 0x0960      |  0x0008 */    struct task_struct *curr;\n\n                               /* total size (bytes): 3264 */\n                             }\n', 'rq')!;
    assert.deepEqual([l.members.get('curr')?.offset, l.members.get('nr_running')?.size, l.size], [0x960, 4, 3264]);
  });

  test('declarations and addresses', () => {
    assert.deepEqual(parseDeclaration('struct list_head *next;'), { name: 'next', type: 'struct list_head *' });
    assert.deepEqual(parseDeclaration('unsigned int in_iowait : 1;'), { name: 'in_iowait', type: 'unsigned int' });
    assert.deepEqual(parseDeclaration('void (*func)(struct callback_head *);'), { name: 'func', type: 'void (*)(struct callback_head *)' });
    assert.equal(parseDeclaration('nonsense'), undefined);
    assert.equal(parseAddress('0x31980 <runqueues>'), 0x31980n);
    assert.equal(parseAddress('(unsigned long (*)[8192]) 0xffffffff8239cb60 <__per_cpu_offset>'), 0xffffffff8239cb60n);
    assert.equal(parseAddress('(void (*)(void)) 0xffff80000a2c0a9c <start_kernel>'), 0xffff80000a2c0a9cn);
    assert.equal(parseAddress('{a = 1}'), undefined);
  });
});
