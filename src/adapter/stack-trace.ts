/**
 * Stack traces and scopes: gdb's frames trimmed at the entry stub, the faulting instruction
 * above an exception's reporting functions, the context an entry stub interrupted below, and a
 * thread group's rows (kgdb's Tasks) as label frames.
 */
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { GdbBackend } from '../gdb/backend';
import * as stack from '../gdb/mi/stack';
import { describe, type FaultSite } from '../engine/exceptions';
import { describeInterrupted, interruptedContext, type InterruptedContext } from '../engine/interrupted';
import { trimKernelStack } from '../engine/stack';
import { frameKinds } from '../engine/task-report';
import type { Attached } from './attached';
import { frameSource } from './frame-source';
import { decodeFrameId, frameId } from './handles';
import { bestEffort } from '../engine/errors';

/** Frame level of the synthetic faulting-instruction frame (never a real gdb level). */
const faultFrameLevel = 9999;
/** Frame levels of the interrupted context shown under an entry stub (not gdb frames). */
const interruptedFrameLevel = 9990;
/** How many frames VS Code asks of the stopped thread first (it pages on from there). */
const firstPage = 20;

/** Frames `0 … count − 1` read ahead, for the first request that wants no more than those. */
interface ReadAhead {
  thread: number;
  count: number;
  frames: Promise<stack.Frame[]>;
}

export class StackTraces {
  /** Per thread and bottom frame, the context its entry stub interrupted, until the next resume. */
  private readonly interrupted = new Map<string, Promise<InterruptedContext | undefined>>();
  private readAhead: ReadAhead | undefined;
  /**
   * Function and line of interrupted kernel pcs (the idle loop's, over and over), until the
   * symbols change: a module comes or goes, the kernel moves (KASLR), a console command.
   */
  private readonly sites = new Map<bigint, Promise<Omit<FaultSite, 'pc'>>>();

  /** Symbols changed: a pc may now have another function or line. */
  forgetSources(): void {
    this.sites.clear();
  }

  private describeSite(gdb: GdbBackend, site: FaultSite): Promise<void> {
    let known = this.sites.get(site.pc);
    if (!known) {
      const fresh: FaultSite = { pc: site.pc };
      known = describe(gdb, fresh).then(() => {
        // A pc gdb could not name is asked again next time.
        if (!fresh.func) this.sites.delete(site.pc);
        return { func: fresh.func, offset: fresh.offset, file: fresh.file, line: fresh.line };
      });
      this.sites.set(site.pc, known);
    }
    return known.then((d) => void Object.assign(site, d));
  }

  /** The kernel ran: what was read of its stacks is stale. */
  resumed(): void {
    this.interrupted.clear();
    this.readAhead = undefined;
  }

  /**
   * At a stop the user sees, before the client asks: the stopped thread's first page of frames
   * and the context its entry stub interrupted. gdb answers commands in order, so these run while
   * the client's requests travel, and the client's `stackTrace` finds them read.
   */
  readAheadStop(a: Attached, thread: number): void {
    if (a.kernel.threads.group(thread)) return;
    const gdb = a.kernel.engine.gdb;
    const frames = stack.listFrames(gdb, thread, 0, firstPage - 1);
    this.readAhead = { thread, count: firstPage, frames };
    frames.then(
      (raw) => {
        const { frames: kept, truncated } = trimKernelStack(a.kernel.arch, raw);
        void this.contextBelow(a, gdb, thread, kept, truncated || raw.length < firstPage);
      },
      () => undefined, // the request that wants them asks again, and reports the error
    );
  }

  /** The frames read ahead for this request, once; undefined when it wants others. */
  private takeReadAhead(thread: number, start: number, levels: number): Promise<stack.Frame[]> | undefined {
    const ahead = this.readAhead;
    if (!ahead || ahead.thread !== thread || start + levels > ahead.count) return undefined;
    this.readAhead = undefined;
    return ahead.frames.then((raw) => raw.filter((f) => f.level >= start && f.level < start + levels));
  }

  /** The interrupted context under `frames` (the stack as far as it was trimmed), read once per stop. */
  private contextBelow(a: Attached, gdb: GdbBackend, thread: number, frames: readonly stack.Frame[], ended: boolean): Promise<InterruptedContext | undefined> {
    // VS Code asks for a thread's stack more than once per stop: read its pt_regs once.
    const key = `${thread}:${frames[frames.length - 1]?.level ?? -1}`;
    let ctx = this.interrupted.get(key);
    if (!ctx) {
      ctx = bestEffort(interruptedContext(gdb, a.kernel.target, a.kernel.arch, thread, frames, ended, (site) => this.describeSite(gdb, site)), 'reading the interrupted context');
      this.interrupted.set(key, ctx);
    }
    return ctx;
  }

  async stackTrace(a: Attached, args: DebugProtocol.StackTraceArguments, fault: FaultSite | undefined): Promise<DebugProtocol.StackTraceResponse['body']> {
    const start = args.startFrame ?? 0;
    const group = a.kernel.threads.group(args.threadId);
    if (group) {
      const { labels, total } = await group.rows(start, args.levels || 20);
      return {
        stackFrames: labels.map((name, i) => ({ id: frameId(group.id, start + i), name, line: 0, column: 0, instructionPointerReference: undefined, presentationHint: 'label' })),
        totalFrames: total,
      };
    }
    const gdb = a.kernel.engine.gdb;
    const levels = args.levels || 64;
    const raw = await (this.takeReadAhead(args.threadId, start, levels) ?? stack.listFrames(gdb, args.threadId, start, start + levels - 1));
    const { frames, truncated } = trimKernelStack(a.kernel.arch, raw);
    const kinds = await taskFrameKinds(a, args.threadId, start + levels);
    const faulting: DebugProtocol.StackFrame[] = start === 0 && fault ? [faultFrame(a, args.threadId, fault)] : [];
    const interrupted = await this.contextBelow(a, gdb, args.threadId, frames, truncated || raw.length < levels);
    const below = interrupted ? interruptedFrames(a, args.threadId, interrupted) : [];
    return {
      stackFrames: faulting.concat(
        frames.map((f) => {
          const kind = kinds?.[f.level];
          return {
            id: frameId(args.threadId, f.level),
            name: (f.func && f.func !== '??' ? f.func : `0x${(f.address ?? 0n).toString(16)}`) + (kind === 'inline' ? ' [inlined]' : kind === 'tailcall' ? ' [tail call]' : ''),
            ...frameSource(a.sources, f.file, f.line, f.fullname),
            instructionPointerReference: f.address !== undefined ? `0x${f.address.toString(16)}` : undefined,
            presentationHint: f.func && kind !== 'tailcall' ? 'normal' : 'subtle',
          } satisfies DebugProtocol.StackFrame;
        }),
        below,
      ),
      totalFrames: truncated || below.length ? start + frames.length + faulting.length + below.length : undefined,
    };
  }

  /** Locals and registers of a gdb frame; nothing for a group's rows or the frames kdap adds. */
  scopes(a: Attached, args: DebugProtocol.ScopesArguments): DebugProtocol.Scope[] {
    const { thread, frame } = decodeFrameId(args.frameId);
    return a.kernel.threads.group(thread) || frame >= interruptedFrameLevel ? [] : a.variables.scopes(thread, frame);
  }
}

/**
 * For a task shown as a thread, which frames are inlined and which are tail calls gdb made up
 * from call-site data (they have no return address on the stack), by level; undefined for a CPU.
 */
async function taskFrameKinds(a: Attached, threadId: number, limit: number): Promise<string[] | undefined> {
  const rsp = await a.kernel.tasks?.rspOf(threadId);
  if (rsp === undefined) return undefined;
  return bestEffort(frameKinds(a.kernel.engine.gdb, rsp, limit), 'telling inlined and tail-call frames', undefined);
}

/** The faulting instruction as a frame of its own above the reporting helper's frames. */
function faultFrame(a: Attached, thread: number, site: FaultSite): DebugProtocol.StackFrame {
  return {
    id: frameId(thread, faultFrameLevel),
    name: `${site.func ?? `0x${site.pc.toString(16)}`} (faulting instruction)`,
    ...frameSource(a.sources, site.file, site.line),
    instructionPointerReference: `0x${site.pc.toString(16)}`,
    presentationHint: 'label',
  };
}

/** A label for the pt_regs below an entry stub, then the interrupted kernel pc with its source. */
function interruptedFrames(a: Attached, thread: number, ctx: InterruptedContext): DebugProtocol.StackFrame[] {
  const label: DebugProtocol.StackFrame = { id: frameId(thread, interruptedFrameLevel), name: `── ${describeInterrupted(ctx)} ──`, line: 0, column: 0, presentationHint: 'label' };
  if (ctx.mode === 'user' || !ctx.site) return [label];
  const site = ctx.site;
  return [
    label,
    {
      id: frameId(thread, interruptedFrameLevel + 1),
      name: site.func ? `${site.func}+0x${(site.offset ?? 0).toString(16)}` : `0x${site.pc.toString(16)}`,
      ...frameSource(a.sources, site.file, site.line),
      instructionPointerReference: `0x${site.pc.toString(16)}`,
      presentationHint: 'normal',
    },
  ];
}
