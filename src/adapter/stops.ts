/**
 * What a stop looks like to the client: a `stopped` event with its reason, the exception it
 * was (with the faulting instruction found from the reporting function's arguments), and the
 * logpoints and step-outs that end in a stop of their own.
 */
import { StoppedEvent } from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import * as bp from '../gdb/mi/breakpoints';
import * as data from '../gdb/mi/data';
import type { StopInfo } from '../engine/engine';
import { bestEffort, errorText } from '../engine/errors';
import { describeSite, faultSite, type FaultSite } from '../engine/exceptions';
import type { Attachment } from '../engine/attachment';
import type { Connection } from '../engine/connection';
import type { Attached } from './attached';

export class Stops {
  private lastException: { filter: string; description: string; site?: FaultSite } | undefined;
  /** Per thread, where the exception it stopped on really happened (shown as its top frame). */
  private readonly faults = new Map<number, FaultSite>();
  /** The breakpoint that ends a step out, while one is under way. */
  stepOutBreakpoint: number | undefined;
  /** The temporary breakpoint of `stopAt`, until it is hit. */
  entryBreakpoint: number | undefined;

  /** The kernel ran: faults belong to the stop before. */
  resumed(): void {
    this.faults.clear();
  }

  faultAt(thread: number): FaultSite | undefined {
    return this.faults.get(thread);
  }

  /**
   * The event for a stop the user sees, or undefined when the stop was a logpoint's (its
   * message is printed through `print` and the kernel continues).
   */
  async event(a: Attached, s: StopInfo, print: (text: string) => void): Promise<DebugProtocol.StoppedEvent | undefined> {
    const gdb = a.kernel.engine.gdb;
    const thread = s.threadId ?? 1;
    const log = a.breakpoints.logMessageFor(s.breakpointNumber);
    if (log !== undefined) {
      print(`${await interpolate(a, log, thread)}\n`);
      await bestEffort(a.kernel.engine.continue(), 'continuing after a logpoint');
      return undefined;
    }
    const exception = a.breakpoints.exceptionFor(s.breakpointNumber);
    let reason = stopReason(s);
    if (this.stepOutBreakpoint !== undefined) {
      if (s.breakpointNumber === this.stepOutBreakpoint) reason = 'step';
      else await bestEffort(bp.remove(gdb, [this.stepOutBreakpoint]), 'removing the step-out breakpoint');
      this.stepOutBreakpoint = undefined;
    }
    if (s.breakpointNumber !== undefined && s.breakpointNumber === this.entryBreakpoint) {
      reason = 'entry';
      this.entryBreakpoint = undefined;
    }
    const event = new StoppedEvent(exception ? 'exception' : reason, thread) as DebugProtocol.StoppedEvent;
    event.body.allThreadsStopped = true;
    if (exception) {
      const site = await bestEffort(faultSite(gdb, a.kernel.arch, s.frame?.func, thread), 'finding the faulting instruction');
      if (site) this.faults.set(thread, site);
      this.lastException = { filter: exception.filter, description: describeSite(exception.label, site, s.frame?.func), site };
      event.body.description = `Paused on ${exception.label}`;
      event.body.text = this.lastException.description;
    } else if (reason === 'exception') {
      // A fault the stub reports as a signal (kgdb's die notifier: SIGSEGV with the faulting registers).
      const what = s.signal === 'SIGSEGV' ? 'Kernel fault (Oops)' : `Signal ${s.signal ?? '?'}`;
      this.lastException = { filter: 'signal', description: `${what} in ${s.frame?.func ?? '??'}` };
      event.body.description = `Paused on ${what}`;
      event.body.text = this.lastException.description;
    } else if (s.breakpointNumber !== undefined && reason === 'breakpoint') {
      event.body.hitBreakpointIds = [s.breakpointNumber];
    }
    return event;
  }

  /** The first stop of a kernel that crashed (a dump): the crash is the exception, on its CPU's thread. */
  crashed(crash: Crash, thread: number): DebugProtocol.StoppedEvent {
    const what = crash.kind === 'panic' ? 'Kernel panic' : `Kernel ${crash.kind === 'oops' || crash.kind === 'null-deref' ? 'Oops' : crash.kind}`;
    this.lastException = { filter: crash.kind, description: crash.cause ? `${crash.title} (after ${crash.cause})` : crash.title };
    const event = new StoppedEvent('exception', thread) as DebugProtocol.StoppedEvent;
    event.body.allThreadsStopped = true;
    event.body.description = `Paused on ${what}`;
    event.body.text = this.lastException.description;
    return event;
  }

  exceptionInfo(): DebugProtocol.ExceptionInfoResponse['body'] {
    const ex = this.lastException;
    return {
      exceptionId: ex?.filter ?? 'unknown',
      description: ex?.description,
      breakMode: 'always',
      details: ex?.site
        ? { message: ex.description, typeName: ex.filter, evaluateName: ex.site.regs, stackTrace: `0x${ex.site.pc.toString(16)} ${ex.site.func ?? ''}` }
        : undefined,
    };
  }
}

type Crash = NonNullable<Connection['crash']>;

/** The gdb thread of the CPU that crashed, else the thread of the stop. */
export async function crashThread(kernel: Attachment, cpu: number | undefined): Promise<number> {
  const threads = cpu === undefined ? [] : await bestEffort(kernel.target.threads(), 'listing the CPUs', []);
  return threads.find((t) => t.cpu === cpu)?.threadId ?? kernel.engine.stopInfo?.threadId ?? 1;
}

/** A logpoint's message with each `{expression}` evaluated in the stopped frame. */
async function interpolate(a: Attached, message: string, thread: number): Promise<string> {
  const parts = message.split(/(\{[^{}]+\})/);
  const out: string[] = [];
  for (const part of parts) {
    if (part.startsWith('{') && part.endsWith('}')) {
      out.push(await data.evaluate(a.kernel.engine.gdb, part.slice(1, -1), { thread, frame: 0 }).catch((e: unknown) => `<${errorText(e)}>`));
    } else out.push(part);
  }
  return out.join('');
}

function stopReason(s: StopInfo): string {
  switch (s.reason) {
    case 'breakpoint-hit':
      return 'breakpoint';
    case 'watchpoint-trigger':
    case 'read-watchpoint-trigger':
    case 'access-watchpoint-trigger':
      return 'data breakpoint';
    case 'end-stepping-range':
    case 'function-finished':
    case 'location-reached':
      return 'step';
    case 'signal-received':
      return s.signal === 'SIGINT' || s.signal === 'SIGTRAP' || s.signal === '0' ? 'pause' : 'exception';
    default:
      return 'pause';
  }
}
