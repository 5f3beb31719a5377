/**
 * `evaluate`: gdb commands in the console (`-exec …` or a backquote), C expressions with the
 * kernel's per-CPU accessors, and hovers decorated with page-table knowledge.
 */
import type { DebugProtocol } from '@vscode/debugprotocol';
import * as data from '../gdb/mi/data';
import { errorText, UserError } from '../engine/errors';
import { rewritePerCpu } from '../engine/expressions';
import type { Attached } from './attached';
import { decodeFrameId } from './handles';
import { decorateHover } from './hover';

const consolePrefixes = ['-exec ', '`'];

export async function evaluate(a: Attached, args: DebugProtocol.EvaluateArguments): Promise<DebugProtocol.EvaluateResponse['body']> {
  const { engine, threads, views } = a.kernel;
  const prefix = consolePrefixes.find((p) => args.expression.startsWith(p));
  if (args.context === 'repl' && prefix) {
    const text = await engine.gdb.console(args.expression.slice(prefix.length), 120_000);
    return { result: text.replace(/\n$/, ''), variablesReference: 0 };
  }
  if (engine.state !== 'stopped') throw new UserError('The target is running: pause it to evaluate expressions.');
  const where = args.frameId !== undefined ? decodeFrameId(args.frameId) : { thread: undefined, frame: undefined };
  // per_cpu()/this_cpu() are kernel macros gdb lacks; this_cpu means the selected vCPU's copy.
  const expression = await rewritePerCpu(args.expression, async () => (await threads.byId(where.thread ?? engine.stopInfo?.threadId ?? -1))?.cpu);
  let body: DebugProtocol.EvaluateResponse['body'];
  try {
    body = await a.variables.evaluate(expression, where.thread, where.frame);
  } catch (err) {
    // A vCPU in user mode (or on PTI's user page tables) cannot read kernel memory through
    // the stub: evaluate globals on a vCPU that is in the kernel instead.
    const kernel = /Cannot access memory/.test(errorText(err)) ? await threads.kernelThread(where.thread) : undefined;
    if (kernel === undefined) throw err;
    body = await a.variables.evaluate(expression, kernel, undefined);
  }
  if (args.context !== 'hover') return body;
  const cpu = where.thread !== undefined ? (await threads.byId(where.thread))?.cpu : undefined;
  return decorateHover(
    body,
    expression,
    {
      print: (e) => data.evaluate(engine.gdb, e, where),
      request: (command, r) => views.request(command, r),
    },
    cpu,
  );
}
