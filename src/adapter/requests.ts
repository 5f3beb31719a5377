/**
 * The handlers of kdap's custom requests, one per entry of `CustomRequests` (protocol.ts): the
 * table's type maps every request name to a handler of its own argument and result types, so a
 * request declared without a handler does not compile.
 */
import { UserError } from '../engine/errors';
import type { KernelRequest } from '../engine/kernel-views';
import type { Attached } from './attached';
import type { CustomRequestName, CustomRequests } from './protocol';

export interface RequestContext {
  /** The attached kernel; throws a UserError when there is none. */
  attached(): Attached;
  /** Keystrokes for the kernel console, whatever the session's phase. */
  type(text: string): void;
  /** Lets the client show this thread's stack, as if the stop were its. */
  focus(threadId: number): void;
}

type Handlers = { readonly [K in CustomRequestName]: (args: CustomRequests[K]['args'], c: RequestContext) => Promise<CustomRequests[K]['result']> };

function kernel<K extends KernelRequest>(command: K) {
  return async (args: CustomRequests[K]['args'], c: RequestContext) => (await c.attached().kernel.views.request(command, args)) as CustomRequests[K]['result'];
}

export const customRequests: Handlers = {
  'kdap/cpus': async (args, c) => {
    const a = c.attached();
    const result = (await a.kernel.views.request('kdap/cpus', args)) as CustomRequests['kdap/cpus']['result'];
    // Name each vCPU's thread after the task it runs, now that it is known for this stop.
    for (const cpu of result.cpus) if (cpu.task) a.kernel.threads.setTaskName(cpu.cpu, cpu.task.comm);
    return result;
  },
  'kdap/walk': kernel('kdap/walk'),
  'kdap/decodePte': kernel('kdap/decodePte'),
  'kdap/dmesg': kernel('kdap/dmesg'),
  'kdap/modules': async (_args, c) => ({ modules: await c.attached().kernel.modules.list() }),
  'kdap/loadModuleSymbols': async (args, c) => c.attached().kernel.modules.pick(args?.name, args?.file),
  'kdap/tasks': async (_args, c) => tasksOf(c).rows(),
  'kdap/selectTask': async (args, c) => {
    const thread = await tasksOf(c).select(Number(args?.pid));
    c.attached().kernel.threads.relist();
    c.focus(thread.id);
    return { threadId: thread.id, name: thread.name };
  },
  'kdap/serialInput': async (args, c) => {
    c.type(args?.text ?? '');
    return undefined;
  },
};

function tasksOf(c: RequestContext) {
  const a = c.attached();
  if (!a.kernel.tasks) throw new UserError('This session shows no tasks: gdb talks to the stub without kdap’s task layer.');
  if (a.kernel.engine.state !== 'stopped') throw new UserError('The kernel is running: pause it to see its tasks.');
  return a.kernel.tasks;
}

export function isCustomRequest(command: string): command is CustomRequestName {
  return Object.hasOwn(customRequests, command);
}
