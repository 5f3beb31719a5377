import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryImage } from '../../../src/kernel/memory-image';
import { findPid, findTaskByPid } from '../../../src/kernel/pid';
import { layout, window } from './planted';

const NS = 0xffffffff82a52000n;
const SLAB = 0xffff888004000000n;
const PID_LINKS = 0x3f8;

/** init_pid_ns and an xarray of `slots`-wide nodes (64 on Debian's kernel, 16 with BASE_SMALL). */
function kernel(slots: 64 | 16) {
  const image = new MemoryImage('x86_64')
    .setSymbol('init_pid_ns', NS)
    .setLayout(layout('pid_namespace', 200, { idr: [0, 24, 'struct idr'], 'idr.idr_rt': [0, 16, 'struct xarray'], 'idr.idr_rt.xa_head': [8, 8, 'void *'], 'idr.idr_base': [16, 4, 'unsigned int'] }))
    .setLayout(layout('xa_node', 40 + slots * 8 + 24, { shift: [0, 1, 'unsigned char'], slots: [40, slots * 8, `void *[${slots}]`] }))
    .setLayout(layout('pid', 96, { tasks: [16, 32, 'struct hlist_head [4]'] }))
    .setLayout(layout('task_struct', 9728, { pid_links: [PID_LINKS, 64, 'struct hlist_node [4]'] }));
  const ns = window(image, NS, 0x2a52000n, 0x1000n);
  const slab = window(image, SLAB, 0x4000000n, 0x100000n);
  let next = SLAB;
  const alloc = (size: bigint) => {
    const at = next;
    next += (size + 0x3fn) & ~0x3fn;
    return at;
  };
  return {
    image,
    head: (entry: bigint) => ns.int(NS + 8n, entry),
    node(shift: number): bigint {
      const n = alloc(BigInt(40 + slots * 8 + 24));
      slab.int(n, shift, 1);
      return n;
    },
    slot: (node: bigint, i: number, entry: bigint) => slab.int(node + 40n + BigInt(i) * 8n, entry),
    /** A struct pid whose PIDTYPE_PID list holds `task`. */
    pid(task: bigint): bigint {
      const p = alloc(96n);
      slab.int(p + 16n, task + BigInt(PID_LINKS));
      return p;
    },
  };
}

describe('a task by its pid (the pid namespace’s xarray)', () => {
  test('two levels of 64 slots: pid 100 is slot 1, then slot 36', async () => {
    const k = kernel(64);
    const task = 0xffff888005614000n;
    const root = k.node(6);
    const leaf = k.node(0);
    k.head(root + 2n);
    k.slot(root, 1, leaf + 2n);
    const pid = k.pid(task);
    k.slot(leaf, 36, pid);
    assert.equal(await findPid(k.image, 100), pid);
    assert.equal(await findTaskByPid(k.image, 100), task);
    k.image.resetReads();
    assert.equal(await findTaskByPid(k.image, 37), undefined, 'an empty slot');
    assert.equal(await findTaskByPid(k.image, 5000), undefined, 'beyond what the root covers');
    // The namespace, the root's shift, and the empty slot: three small reads.
    assert.deepEqual(k.image.reads.slice(0, 3).map((r) => r.length), [12, 1, 8]);
  });

  test('nodes of 16 slots (CONFIG_BASE_SMALL, the small kgdb kernels): the slot count is the DWARF one', async () => {
    const k = kernel(16);
    const task = 0xffff888005618000n;
    const root = k.node(4);
    const leaf = k.node(0);
    k.head(root + 2n);
    k.slot(root, 6, leaf + 2n);
    k.slot(leaf, 4, k.pid(task));
    assert.equal(await findTaskByPid(k.image, 100), task);
  });

  test('a lone entry at the head is index 0 only', async () => {
    const k = kernel(64);
    const pid = k.pid(0xffff888005600000n);
    k.head(pid);
    assert.equal(await findPid(k.image, 0), pid);
    assert.equal(await findPid(k.image, 1), undefined);
  });

  test('a node that points back at itself is corrupt, not an endless walk', async () => {
    const k = kernel(64);
    const root = k.node(0);
    k.head(root + 2n);
    k.slot(root, 3, root + 2n);
    await assert.rejects(findPid(k.image, 3), /deeper than 8 levels/);
  });
});
