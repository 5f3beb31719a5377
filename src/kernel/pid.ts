/**
 * A task by its pid, as find_task_by_pid_ns() finds it in the root namespace (kernel/pid.c,
 * lib/idr.c, lib/xarray.c): `init_pid_ns.idr` maps the number to its `struct pid`, whose
 * `tasks[PIDTYPE_PID]` list holds the task through `task->pid_links[PIDTYPE_PID]`.
 *
 * A handful of small reads whatever the number of tasks, where walking the task list costs one
 * read per task: what a serial line can afford for a single task.
 */
import { member, readStruct, readU64, structLayout, symbolAddress } from './struct';
import type { Target } from './target';

/** xa_is_internal(): the low two bits are 10. */
const isInternal = (entry: bigint) => (entry & 3n) === 2n;
/** xa_is_node(): an internal entry above 4096 points at a node (minus 2). */
const isNode = (entry: bigint) => isInternal(entry) && entry > 4096n;
/** Levels an xarray of 32-bit indices can have with the smallest nodes (4 index bits each). */
const MAX_DEPTH = 8;

/** The `struct pid *` of `nr` in the root pid namespace, or undefined. */
export async function findPid(target: Target, nr: number): Promise<bigint | undefined> {
  if (!Number.isInteger(nr) || nr < 0) return undefined;
  const ns = await symbolAddress(target, 'init_pid_ns');
  const nsLayout = await structLayout(target, 'pid_namespace');
  const idr = await readStruct(target, ns, nsLayout, ['idr.idr_rt.xa_head', 'idr.idr_base']);
  const index = BigInt(nr) - idr.unsigned('idr.idr_base');
  if (index < 0n) return undefined;
  let entry = idr.unsigned('idr.idr_rt.xa_head');
  if (!isNode(entry)) return index === 0n && entry !== 0n && !isInternal(entry) ? entry : undefined;
  const nodeLayout = await structLayout(target, 'xa_node');
  const slots = member(nodeLayout, 'slots');
  // XA_CHUNK_SHIFT is 6, or 4 with CONFIG_BASE_SMALL: the slot count says which.
  const chunk = BigInt(slots.size / 8);
  const shiftOffset = BigInt(member(nodeLayout, 'shift').offset);
  for (let depth = 0; isNode(entry); depth++) {
    if (depth >= MAX_DEPTH) throw new RangeError(`the pid xarray is deeper than ${MAX_DEPTH} levels at pid ${nr}: corrupt`);
    const node = entry - 2n;
    const shift = BigInt((await target.readVirtual(node + shiftOffset, 1))[0]);
    if (depth === 0 && index >> shift >= chunk) return undefined;
    entry = await readU64(target, node + BigInt(slots.offset) + ((index >> shift) & (chunk - 1n)) * 8n);
  }
  return entry !== 0n && !isInternal(entry) ? entry : undefined;
}

/** `find_task_by_pid_ns(nr, &init_pid_ns)`: the `struct task_struct *`, or undefined. */
export async function findTaskByPid(target: Target, nr: number): Promise<bigint | undefined> {
  const pid = await findPid(target, nr);
  if (pid === undefined) return undefined;
  const first = await readU64(target, pid + BigInt(member(await structLayout(target, 'pid'), 'tasks').offset));
  if (first === 0n) return undefined;
  // tasks[PIDTYPE_PID].first is &task->pid_links[PIDTYPE_PID]; PIDTYPE_PID is 0.
  return first - BigInt(member(await structLayout(target, 'task_struct'), 'pid_links').offset);
}

/** Looks up what findTaskByPid() will need, so a snapshot of the debug info holds it. */
export async function probePid(target: Target): Promise<void> {
  await target.symbol('init_pid_ns');
  for (const name of ['pid_namespace', 'xa_node', 'pid', 'task_struct']) await target.layout(name);
}
