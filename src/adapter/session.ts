/**
 * The DAP session: a router from requests to the engine and the feature modules. Handlers
 * throw; `guard` turns every throw into one error response, so no request is left hanging.
 */
import {
  BreakpointEvent,
  DebugSession,
  Event,
  InitializedEvent,
  OutputEvent,
  ProgressEndEvent,
  ProgressStartEvent,
  StoppedEvent,
  TerminatedEvent,
} from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import * as path from 'node:path';
import * as data from '../gdb/mi/data';
import * as exec from '../gdb/mi/exec';
import * as stack from '../gdb/mi/stack';
import * as bp from '../gdb/mi/breakpoints';
import { Breakpoints, kernelExceptions, toDapBreakpoint } from './breakpoints';
import { dedupeFtraceLocations } from '../engine/ftrace';
import { AttachArguments, checkAttach, checkLaunch, LaunchArguments } from './config';
import { archOps } from '../kernel/arch';
import type { Arch } from '../kernel/target';
import { elfArch } from '../engine/elf-arch';
import { describeSite, faultSite, FaultSite } from '../engine/exceptions';
import { describeInterrupted, interruptedContext, type InterruptedContext } from '../engine/interrupted';
import { Engine, StopInfo } from '../engine/engine';
import { rewritePerCpu } from '../engine/expressions';
import { isKernelRequest, kernelRequest, kernelViews } from '../engine/kernel-views';
import { KgdbAttachment, kgdbOptions } from './kgdb-session';
import { ModuleSymbols, type ModuleSymbolsHooks } from '../engine/module-symbols';
import type { CpuInfo } from './protocol';
import { errorText, UserError } from '../engine/errors';
import { decodeFrameId, frameId } from './handles';
import { launchQemu, LaunchedQemu } from '../engine/launch';
import { SourceMapper } from '../engine/sources';
import { trimKernelStack } from '../engine/stack';
import { stepOut } from '../engine/step-out';
import { decorateHover } from './hover';
import { ThreadCache } from '../engine/threads';
import { Variables } from './variables';

const consolePrefixes = ['-exec ', '`'];
/** Frame level of the synthetic faulting-instruction frame (never a real gdb level). */
const faultFrameLevel = 9999;
/** Frame levels of the interrupted context shown under an entry stub (not gdb frames). */
const interruptedFrameLevel = 9990;

// Not LoggingDebugSession: nothing calls logger.setup(), so it would queue the JSON of every
// message sent and received for the whole session (bench/soak.mjs: ~7 KB of heap per stop).
export class KdapSession extends DebugSession {
  private engine: Engine | undefined;
  private qemu: LaunchedQemu | undefined;
  private arch: Arch = 'x86_64';
  private threads: ThreadCache | undefined;
  private variables: Variables | undefined;
  private breakpoints: Breakpoints | undefined;
  private modules: ModuleSymbols | undefined;
  private kgdb: KgdbAttachment | undefined;
  private sources = new SourceMapper(undefined);
  private configurationDone!: () => void;
  private readonly configured = new Promise<void>((resolve) => (this.configurationDone = resolve));
  private entryBreakpoint: number | undefined;
  private terminated = false;
  /** linux_banner could not be compared yet (memory unreadable at connect). */
  private bannerPending = false;
  /** Stops before the first one we hand to the client (the connect stop at reset) are ours. */
  private reporting = false;
  private lastException: { filter: string; description: string; site?: FaultSite } | undefined;
  /** Per thread, where the exception it stopped on really happened (shown as its top frame). */
  private readonly faults = new Map<number, FaultSite>();
  /** Per thread and bottom frame, the context its entry stub interrupted, until the next resume. */
  private readonly interrupted = new Map<string, Promise<InterruptedContext | undefined>>();
  private clientShowsProgress = false;
  /** The breakpoint that ends a step out, while one is under way. */
  private stepOutBreakpoint: number | undefined;

  constructor() {
    super();
    this.setDebuggerLinesStartAt1(true);
    this.setDebuggerColumnsStartAt1(true);
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  protected override initializeRequest(response: DebugProtocol.InitializeResponse, args: DebugProtocol.InitializeRequestArguments): void {
    this.clientShowsProgress = args.supportsProgressReporting === true;
    response.body = {
      supportsConfigurationDoneRequest: true,
      supportsFunctionBreakpoints: true,
      supportsConditionalBreakpoints: true,
      supportsHitConditionalBreakpoints: true,
      supportsLogPoints: true,
      supportsEvaluateForHovers: true,
      supportsSetVariable: true,
      supportsReadMemoryRequest: true,
      supportsWriteMemoryRequest: true,
      supportsDisassembleRequest: true,
      supportsInstructionBreakpoints: true,
      supportsDataBreakpoints: true,
      supportsSteppingGranularity: true,
      supportsTerminateRequest: true,
      supportsExceptionInfoRequest: true,
      supportsValueFormattingOptions: false,
      exceptionBreakpointFilters: kernelExceptions.map((e) => ({ filter: e.filter, label: e.label, description: e.description, default: e.default ?? false })),
      breakpointModes: [
        { mode: 'software', label: 'Software', description: 'Patched into the code (or emulated by QEMU).', appliesTo: ['source', 'function', 'instruction'] },
        { mode: 'hardware', label: 'Hardware', description: 'A CPU debug register: works before paging is on and in read-only text.', appliesTo: ['source', 'function', 'instruction'] },
      ],
    };
    this.sendResponse(response);
  }

  protected override launchRequest(response: DebugProtocol.LaunchResponse, args: LaunchArguments): void {
    void this.guard(response, () => this.orCleanUp(async () => {
      checkLaunch(args);
      this.arch = args.arch ?? elfArch(args.vmlinux!);
      this.sources = new SourceMapper(args.sourceRoot, args.substitutePath);
      this.qemu = await launchQemu(args, this.arch);
      this.qemu.onConsole((text) => this.serialOutput(text, args));
      this.qemu.onExit((why) => this.end(`QEMU exited (${why}).`));
      await this.startEngine(args);
      await this.engine!.connect(this.qemu.remote);
      await this.verifyBanner();
      await this.modules!.start(false);
      await this.configureAndStop(args.stopAt ?? 'start_kernel');
    }));
  }

  protected override attachRequest(response: DebugProtocol.AttachResponse, args: AttachArguments): void {
    void this.guard(response, () => this.orCleanUp(async () => {
      checkAttach(args);
      if (args.kgdb) return this.attachKgdb(args);
      this.arch = args.arch ?? elfArch(args.vmlinux!);
      this.sources = new SourceMapper(args.sourceRoot, args.substitutePath);
      await this.startEngine(args);
      await this.engine!.connect(args.remote!);
      await this.verifyBanner();
      await this.modules!.start(true);
      await this.configureAndStop(args.stopOnAttach === false ? 'none' : 'here');
    }));
  }

  /** A launch or attach that fails leaves no gdb or QEMU behind (and a VM it found, running). */
  private async orCleanUp(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (err) {
      if (!this.terminated) await this.teardown().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Symbols of another build would show plausible but wrong source lines and values: compare
   * linux_banner in the file with the running kernel's before showing anything. Memory may not
   * be readable yet (at reset); then the first stop checks again.
   */
  private async verifyBanner(final = false): Promise<void> {
    const engine = this.requireEngine();
    const r = await engine.checkBanner();
    this.bannerPending = r.status === 'unreadable' && !final;
    if (r.status === 'mismatch') {
      throw new UserError(
        `${path.basename(engine.options.vmlinux)} does not match the running kernel.\n` +
          `  vmlinux: ${r.file}\n  running: ${r.target}\nSet "vmlinux" to the ELF of the kernel that runs.`,
      );
    }
    if (r.status === 'unreadable' && final) this.progress('Warning: linux_banner is not readable in the kernel yet, so kdap could not check that vmlinux matches it.');
  }

  /** kgdb: the line and its console first, gdb through the local port once the kernel is in kgdb. */
  private async attachKgdb(args: AttachArguments): Promise<void> {
    this.arch = args.arch ?? elfArch(args.vmlinux!);
    this.sources = new SourceMapper(args.sourceRoot, args.substitutePath);
    const kgdb = await KgdbAttachment.open(kgdbOptions(args), {
      console: (text) => this.serialOutput(text, args as LaunchArguments),
      say: (message) => this.progress(message),
      lost: (why) => this.end(`The kgdb line closed (${why}).`),
      trace: args.trace ? (line) => this.sendEvent(new OutputEvent(`${line}\n`, 'console')) : undefined,
    });
    this.kgdb = kgdb;
    await this.startEngine({ ...args, setupCommands: kgdb.setupCommands(this.arch, args.setupCommands) });
    const wired = kgdb.adopt(this.engine!, this.arch);
    this.threads = wired.threads;
    this.breakpoints = wired.breakpoints;
    this.modules = new ModuleSymbols(this.engine!, wired.target, { arch: this.arch, vmlinux: args.vmlinux!, modulePaths: args.modulePaths, hooks: this.moduleHooks() });
    await kgdb.acquired;
    await this.engine!.connect(kgdb.remote);
    await kgdb.checkEarlyBoot(this.arch);
    await this.modules.start(true);
    await this.configureAndStop(args.stopOnAttach === false ? 'none' : 'here');
  }

  private async startEngine(args: LaunchArguments | AttachArguments): Promise<void> {
    this.progress('Loading vmlinux symbols…');
    const engine = await Engine.start({
      vmlinux: args.vmlinux!,
      arch: this.arch,
      gdbPath: args.gdbPath,
      indexCacheDir: args.indexCacheDir,
      substitutePath: args.substitutePath,
      sourceRoot: args.sourceRoot,
      setupCommands: args.setupCommands,
      onIndexing: (phase, detail) => this.indexing(phase, detail),
      onTrace: args.trace ? (dir, line) => this.sendEvent(new OutputEvent(`${dir === 'send' ? '→' : '←'} ${line}\n`, 'console')) : undefined,
    });
    this.engine = engine;
    this.threads = new ThreadCache(engine.gdb);
    this.variables = new Variables(engine.gdb, this.arch);
    this.breakpoints = new Breakpoints(engine.gdb, this.arch);
    this.modules = new ModuleSymbols(engine, kernelViews(engine, this.arch).target, { arch: this.arch, vmlinux: args.vmlinux!, modulePaths: args.modulePaths, hooks: this.moduleHooks() });
    engine.on('stopped', (s) => void this.onStopped(s));
    engine.on('running', () => {
      this.faults.clear();
      this.interrupted.clear();
      this.threads?.invalidate();
      void this.variables?.reset();
    });
    engine.on('console', (text) => this.sendEvent(new OutputEvent(text, 'console')));
    engine.on('exited', (why) => this.end(`gdb exited: ${why}`));
    engine.on('lost', (why) => {
      // When our own QEMU died, its exit (with the status) is the better message: let it come first.
      setTimeout(() => this.end(`Lost the connection to the kernel's gdbstub: ${why}.`), this.qemu ? 250 : 0);
    });
  }

  /** Hands control to the client for breakpoints, then makes the first stop happen. */
  private async configureAndStop(stopAt: string): Promise<void> {
    this.sendEvent(new InitializedEvent());
    await this.configured;
    const engine = this.engine!;
    this.reporting = true;
    if (stopAt === 'reset' || stopAt === 'here') {
      if (this.bannerPending) await this.verifyBanner(true);
      this.sendEvent(new StoppedEvent('entry', engine.stopInfo?.threadId ?? 1));
      return;
    }
    if (stopAt !== 'none') {
      // Hardware: early boot runs before paging is on, where a software breakpoint may not hold.
      const b = await bp.insert(engine.gdb, stopAt, { temporary: true, hardware: true }).catch((err: unknown) => {
        throw new UserError(`Cannot stop at '${stopAt}': ${errorText(err)}`);
      });
      await dedupeFtraceLocations(engine.gdb, this.arch, b);
      this.entryBreakpoint = b.number;
    }
    await engine.continue();
  }

  protected override configurationDoneRequest(response: DebugProtocol.ConfigurationDoneResponse): void {
    this.configurationDone();
    this.sendResponse(response);
  }

  protected override disconnectRequest(response: DebugProtocol.DisconnectResponse): void {
    // After the reply, the base class ends a stdio adapter process (shutdown → exit).
    void this.guard(response, () => this.teardown()).finally(() => this.shutdown());
  }

  protected override terminateRequest(response: DebugProtocol.TerminateResponse): void {
    void this.guard(response, async () => {
      await this.teardown();
      this.end();
    });
  }

  private async teardown(): Promise<void> {
    this.terminated = true;
    const engine = this.engine;
    this.engine = undefined;
    if (engine) {
      if (!this.qemu && engine.gdb.running) {
        // Attached: leave the kernel running as we found it.
        await this.modules?.close();
        await this.kgdb?.stopForDetach(engine);
        // Bounded wait for the stop: detaching a target that still runs fails and leaves it halted.
        await engine.detach(5000).catch(() => undefined);
      }
      await engine.stop().catch(() => undefined);
    }
    await this.kgdb?.close();
    this.kgdb = undefined;
    await this.qemu?.dispose();
    this.qemu = undefined;
  }

  private end(message?: string): void {
    if (message && !this.terminated) this.sendEvent(new OutputEvent(`${message}\n`, 'important'));
    if (this.terminated && message) return;
    this.terminated = true;
    void this.teardown().finally(() => this.sendEvent(new TerminatedEvent()));
  }

  // ---- run control -------------------------------------------------------------------------

  private async onStopped(s: StopInfo): Promise<void> {
    // Stops while the session ends (a detach halting the kernel) are nobody's to see.
    if (this.terminated) return;
    // Module loads and unloads stop at hidden breakpoints: handled there, never shown.
    if (await this.modules?.onStop(s)) return;
    if (!this.reporting) return;
    if (this.bannerPending) {
      const wrong = await this.verifyBanner(true).then(() => undefined, (e: unknown) => errorText(e));
      if (wrong) return this.end(wrong);
    }
    const thread = s.threadId ?? 1;
    if (s.reason === 'exited' || s.reason === 'exited-normally') return this.end('The target exited.');
    const log = this.breakpoints?.logMessageFor(s.breakpointNumber);
    if (log !== undefined) {
      this.sendEvent(new OutputEvent(`${await this.interpolate(log, thread)}\n`, 'console'));
      await this.engine?.continue().catch(() => undefined);
      return;
    }
    const exception = this.breakpoints?.exceptionFor(s.breakpointNumber);
    let reason = stopReason(s);
    if (this.stepOutBreakpoint !== undefined) {
      if (s.breakpointNumber === this.stepOutBreakpoint) reason = 'step';
      else await bp.remove(this.engine!.gdb, [this.stepOutBreakpoint]).catch(() => undefined);
      this.stepOutBreakpoint = undefined;
    }
    if (s.breakpointNumber !== undefined && s.breakpointNumber === this.entryBreakpoint) {
      reason = 'entry';
      this.entryBreakpoint = undefined;
    }
    const event = new StoppedEvent(exception ? 'exception' : reason, thread) as DebugProtocol.StoppedEvent;
    event.body.allThreadsStopped = true;
    if (exception) {
      const site = await faultSite(this.engine!.gdb, this.arch, s.frame?.func, thread).catch(() => undefined);
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
    this.sendEvent(event);
  }

  private async interpolate(message: string, thread: number): Promise<string> {
    const parts = message.split(/(\{[^{}]+\})/);
    const out: string[] = [];
    for (const part of parts) {
      if (part.startsWith('{') && part.endsWith('}')) {
        out.push(await data.evaluate(this.engine!.gdb, part.slice(1, -1), { thread, frame: 0 }).catch((e: unknown) => `<${errorText(e)}>`));
      } else out.push(part);
    }
    return out.join('');
  }

  protected override continueRequest(response: DebugProtocol.ContinueResponse): void {
    void this.guard(response, async () => {
      await this.requireEngine().continue();
      response.body = { allThreadsContinued: true };
    });
  }

  protected override pauseRequest(response: DebugProtocol.PauseResponse): void {
    void this.guard(response, () => this.requireEngine().interrupt());
  }

  protected override nextRequest(response: DebugProtocol.NextResponse, args: DebugProtocol.NextArguments): void {
    void this.guard(response, () => exec.next(this.requireEngine().gdb, args.threadId, args.granularity === 'instruction'));
  }

  protected override stepInRequest(response: DebugProtocol.StepInResponse, args: DebugProtocol.StepInArguments): void {
    void this.guard(response, () => exec.step(this.requireEngine().gdb, args.threadId, args.granularity === 'instruction'));
  }

  protected override stepOutRequest(response: DebugProtocol.StepOutResponse, args: DebugProtocol.StepOutArguments): void {
    void this.guard(response, async () => {
      this.stepOutBreakpoint = await stepOut(this.requireEngine().gdb, args.threadId);
    });
  }

  // ---- state ---------------------------------------------------------------------------------

  protected override threadsRequest(response: DebugProtocol.ThreadsResponse): void {
    void this.guard(response, async () => {
      const engine = this.engine;
      if (!engine || engine.state !== 'stopped' || !this.threads) {
        response.body = { threads: [{ id: 1, name: 'CPU 0' }] };
        return;
      }
      const list = await this.threads.list();
      response.body = { threads: list.map((t) => ({ id: t.id, name: t.name })) };
    });
  }

  protected override stackTraceRequest(response: DebugProtocol.StackTraceResponse, args: DebugProtocol.StackTraceArguments): void {
    void this.guard(response, async () => {
      const gdb = this.requireEngine().gdb;
      if (this.kgdb?.isTasksThread(args.threadId)) {
        response.body = await this.kgdb.tasksStackTrace(args);
        return;
      }
      const start = args.startFrame ?? 0;
      const levels = args.levels || 64;
      const raw = await stack.listFrames(gdb, args.threadId, start, start + levels - 1);
      const { frames, truncated } = trimKernelStack(this.arch, raw);
      const site = start === 0 ? this.faults.get(args.threadId) : undefined;
      const faulting: DebugProtocol.StackFrame[] = site ? [this.faultFrame(args.threadId, site)] : [];
      // VS Code asks for a thread's stack more than once per stop: read its pt_regs once.
      const bottom = frames[frames.length - 1]?.level ?? -1;
      const key = `${args.threadId}:${bottom}`;
      if (!this.interrupted.has(key)) this.interrupted.set(key, interruptedContext(gdb, this.arch, args.threadId, frames).catch(() => undefined));
      const interrupted = await this.interrupted.get(key);
      const below = interrupted ? this.interruptedFrames(args.threadId, interrupted) : [];
      response.body = {
        stackFrames: faulting.concat(frames.map((f) => {
          const file = this.sources.resolve(f.fullname ?? f.file);
          const sourceName = f.file ? path.basename(f.file) : undefined;
          return {
            id: frameId(args.threadId, f.level),
            name: f.func && f.func !== '??' ? f.func : `0x${(f.address ?? 0n).toString(16)}`,
            source: file ? { path: file, name: sourceName } : f.file ? { name: sourceName, presentationHint: 'deemphasize' } : undefined,
            line: file && f.line ? f.line : 0,
            column: file && f.line ? 1 : 0,
            instructionPointerReference: f.address !== undefined ? `0x${f.address.toString(16)}` : undefined,
            presentationHint: f.func ? 'normal' : 'subtle',
          } satisfies DebugProtocol.StackFrame;
        }), below),
        totalFrames: truncated || below.length ? start + frames.length + faulting.length + below.length : undefined,
      };
    });
  }

  protected override scopesRequest(response: DebugProtocol.ScopesResponse, args: DebugProtocol.ScopesArguments): void {
    void this.guard(response, async () => {
      const { thread, frame } = decodeFrameId(args.frameId);
      response.body = { scopes: this.kgdb?.isTasksThread(thread) || frame >= interruptedFrameLevel ? [] : this.requireVariables().scopes(thread, frame) };
    });
  }

  protected override variablesRequest(response: DebugProtocol.VariablesResponse, args: DebugProtocol.VariablesArguments): void {
    void this.guard(response, async () => {
      response.body = { variables: await this.requireVariables().variables(args.variablesReference, args.start, args.count) };
    });
  }

  protected override evaluateRequest(response: DebugProtocol.EvaluateResponse, args: DebugProtocol.EvaluateArguments): void {
    void this.guard(response, async () => {
      const engine = this.requireEngine();
      const prefix = consolePrefixes.find((p) => args.expression.startsWith(p));
      if (args.context === 'repl' && prefix) {
        const text = await engine.gdb.console(args.expression.slice(prefix.length), 120_000);
        response.body = { result: text.replace(/\n$/, ''), variablesReference: 0 };
        return;
      }
      if (engine.state !== 'stopped') throw new UserError('The target is running: pause it to evaluate expressions.');
      const where = args.frameId !== undefined ? decodeFrameId(args.frameId) : { thread: undefined, frame: undefined };
      // per_cpu()/this_cpu() are kernel macros gdb lacks; this_cpu means the selected vCPU's copy.
      const expression = await rewritePerCpu(args.expression, async () => (await this.threads?.byId(where.thread ?? engine.stopInfo?.threadId ?? -1))?.cpu);
      try {
        response.body = await this.requireVariables().evaluate(expression, where.thread, where.frame);
      } catch (err) {
        // A vCPU in user mode (or on PTI's user page tables) cannot read kernel memory through
        // the stub: evaluate globals on a vCPU that is in the kernel instead.
        const kernel = /Cannot access memory/.test(errorText(err)) ? await this.threads?.kernelThread(where.thread) : undefined;
        if (kernel === undefined) throw err;
        response.body = await this.requireVariables().evaluate(expression, kernel, undefined);
      }
      if (args.context === 'hover' && response.body) {
        const cpu = where.thread !== undefined ? (await this.threads?.byId(where.thread))?.cpu : undefined;
        response.body = await decorateHover(response.body, expression, {
          print: (e) => data.evaluate(engine.gdb, e, where),
          request: (command, a) => (this.kgdb ? this.kgdb.kernelRequest(command, a) : kernelRequest(engine, this.arch, command, a)),
        }, cpu);
      }
    });
  }

  protected override setVariableRequest(response: DebugProtocol.SetVariableResponse, args: DebugProtocol.SetVariableArguments): void {
    void this.guard(response, async () => {
      response.body = { value: await this.requireVariables().setChild(args.variablesReference, args.name, args.value) };
    });
  }

  protected override setExpressionRequest(response: DebugProtocol.SetExpressionResponse, args: DebugProtocol.SetExpressionArguments): void {
    void this.guard(response, async () => {
      const where = args.frameId !== undefined ? decodeFrameId(args.frameId) : { thread: 1, frame: 0 };
      const value = await this.requireVariables().setVariable(args.expression, args.value, where.thread, where.frame);
      response.body = { value };
    });
  }

  protected override readMemoryRequest(response: DebugProtocol.ReadMemoryResponse, args: DebugProtocol.ReadMemoryArguments): void {
    void this.guard(response, async () => {
      const address = BigInt(args.memoryReference) + BigInt(args.offset ?? 0);
      const bytes = await data.readMemory(this.requireEngine().gdb, address, args.count).catch(() => new Uint8Array(0));
      response.body = {
        address: `0x${address.toString(16)}`,
        data: Buffer.from(bytes).toString('base64'),
        unreadableBytes: args.count - bytes.length,
      };
    });
  }

  protected override writeMemoryRequest(response: DebugProtocol.WriteMemoryResponse, args: DebugProtocol.WriteMemoryArguments): void {
    void this.guard(response, async () => {
      const address = BigInt(args.memoryReference) + BigInt(args.offset ?? 0);
      const bytes = Buffer.from(args.data, 'base64');
      await data.writeMemory(this.requireEngine().gdb, address, bytes);
      response.body = { bytesWritten: bytes.length };
    });
  }

  protected override disassembleRequest(response: DebugProtocol.DisassembleResponse, args: DebugProtocol.DisassembleArguments): void {
    void this.guard(response, async () => {
      const base = BigInt(args.memoryReference) + BigInt(args.offset ?? 0);
      const count = args.instructionCount;
      const before = Math.max(0, -(args.instructionOffset ?? 0));
      // Read a window wide enough for `before` instructions of the longest kind.
      const width = BigInt(archOps(this.arch).maxInstructionBytes);
      const start = base - BigInt(before) * width;
      const insns = await data.disassemble(this.requireEngine().gdb, start, base + BigInt(count) * width);
      const firstAt = insns.findIndex((i) => i.address >= base);
      const from = Math.max(0, firstAt - before);
      const slice = insns.slice(from, from + count);
      response.body = {
        instructions: slice.map((i) => ({
          address: `0x${i.address.toString(16)}`,
          instructionBytes: i.opcodes,
          instruction: i.inst,
          symbol: i.func ? `${i.func}+${i.offset ?? 0}` : undefined,
        })),
      };
    });
  }

  // ---- breakpoints ---------------------------------------------------------------------------

  protected override setBreakPointsRequest(response: DebugProtocol.SetBreakpointsResponse, args: DebugProtocol.SetBreakpointsArguments): void {
    void this.guard(response, async () => {
      const file = args.source.path;
      if (!file) throw new UserError('Breakpoints need a source file path.');
      response.body = { breakpoints: await this.applyBreakpoints((b) => b.setSource(file, args.breakpoints ?? [])) };
    });
  }

  protected override setFunctionBreakPointsRequest(response: DebugProtocol.SetFunctionBreakpointsResponse, args: DebugProtocol.SetFunctionBreakpointsArguments): void {
    void this.guard(response, async () => {
      response.body = { breakpoints: await this.applyBreakpoints((b) => b.setFunctions(args.breakpoints)) };
    });
  }

  protected override setInstructionBreakpointsRequest(response: DebugProtocol.SetInstructionBreakpointsResponse, args: DebugProtocol.SetInstructionBreakpointsArguments): void {
    void this.guard(response, async () => {
      response.body = { breakpoints: await this.applyBreakpoints((b) => b.setInstructions(args.breakpoints)) };
    });
  }

  protected override dataBreakpointInfoRequest(response: DebugProtocol.DataBreakpointInfoResponse, args: DebugProtocol.DataBreakpointInfoArguments): void {
    void this.guard(response, async () => {
      const expression = args.variablesReference ? args.name : args.name;
      response.body = {
        dataId: expression,
        description: `watch ${expression}`,
        accessTypes: ['write', 'read', 'readWrite'],
        canPersist: false,
      };
    });
  }

  protected override setDataBreakpointsRequest(response: DebugProtocol.SetDataBreakpointsResponse, args: DebugProtocol.SetDataBreakpointsArguments): void {
    void this.guard(response, async () => {
      response.body = { breakpoints: await this.applyBreakpoints((b) => b.setData(args.breakpoints)) };
    });
  }

  protected override setExceptionBreakPointsRequest(response: DebugProtocol.SetExceptionBreakpointsResponse, args: DebugProtocol.SetExceptionBreakpointsArguments): void {
    void this.guard(response, () => this.applyBreakpoints((b) => b.setExceptions(args.filters)));
  }

  protected override exceptionInfoRequest(response: DebugProtocol.ExceptionInfoResponse): void {
    void this.guard(response, async () => {
      const ex = this.lastException;
      response.body = {
        exceptionId: ex?.filter ?? 'unknown',
        description: ex?.description,
        breakMode: 'always',
        details: ex?.site
          ? { message: ex.description, typeName: ex.filter, evaluateName: ex.site.regs, stackTrace: `0x${ex.site.pc.toString(16)} ${ex.site.func ?? ''}` }
          : undefined,
      };
    });
  }

  // ---- plumbing ------------------------------------------------------------------------------

  protected override customRequest(command: string, response: DebugProtocol.Response, args: unknown): void {
    void this.guard(response, async () => {
      if (command === 'kdap/serialInput') {
        const text = (args as { text?: string } | undefined)?.text ?? '';
        if (this.kgdb) this.kgdb.write(text);
        else this.qemu?.write(text);
        return;
      }
      if (command === 'kdap/modules') {
        this.requireEngine();
        response.body = { modules: await this.modules!.list() };
        return;
      }
      if (command === 'kdap/loadModuleSymbols') {
        this.requireEngine();
        const a = (args ?? {}) as { name?: string; file?: string };
        response.body = await this.modules!.pick(a.name!, a.file!);
        return;
      }
      if (command === 'kdap/dmesg') {
        response.body = this.kgdb ? await this.kgdb.kernelRequest(command, args) : await kernelRequest(this.requireEngine(), this.arch, command, args);
        return;
      }
      if (isKernelRequest(command)) {
        response.body = this.kgdb ? await this.kgdb.kernelRequest(command, args) : await kernelRequest(this.requireEngine(), this.arch, command, args);
        // Name each vCPU's thread after the task it runs, now that it is known for this stop.
        if (command === 'kdap/cpus') for (const c of (response.body as { cpus: CpuInfo[] }).cpus) if (c.task) this.threads?.setTaskName(c.cpu, c.task.comm);
        return;
      }
      throw new UserError(`'${command}' is not supported by this adapter version.`);
    });
  }

  private moduleHooks(): ModuleSymbolsHooks {
    return {
      say: (text) => this.progress(text),
      breakpointChanged: (b) => this.sendEvent(new BreakpointEvent('changed', toDapBreakpoint(b))),
      modulesChanged: (change) => this.sendEvent(new Event('kdap/modulesChanged', change)),
    };
  }

  private serialOutput(text: string, args: LaunchArguments): void {
    if (args.serialConsole === false) return;
    if (args.serialTerminal) this.sendEvent(new Event('kdap/serial', { text }));
    else this.sendEvent(new OutputEvent(text, 'stdout'));
  }

  /** The faulting instruction as a frame of its own above the reporting helper's frames. */
  /** A label for the pt_regs below an entry stub, then the interrupted kernel pc with its source. */
  private interruptedFrames(thread: number, ctx: InterruptedContext): DebugProtocol.StackFrame[] {
    const label: DebugProtocol.StackFrame = { id: frameId(thread, interruptedFrameLevel), name: `── ${describeInterrupted(ctx)} ──`, line: 0, column: 0, presentationHint: 'label' };
    if (ctx.mode === 'user' || !ctx.site) return [label];
    const site = ctx.site;
    const file = this.sources.resolve(site.file);
    return [
      label,
      {
        id: frameId(thread, interruptedFrameLevel + 1),
        name: site.func ? `${site.func}+0x${(site.offset ?? 0).toString(16)}` : `0x${site.pc.toString(16)}`,
        source: file ? { path: file, name: path.basename(file) } : undefined,
        line: file && site.line ? site.line : 0,
        column: file && site.line ? 1 : 0,
        instructionPointerReference: `0x${site.pc.toString(16)}`,
        presentationHint: 'normal',
      },
    ];
  }

  private faultFrame(thread: number, site: FaultSite): DebugProtocol.StackFrame {
    const file = this.sources.resolve(site.file);
    return {
      id: frameId(thread, faultFrameLevel),
      name: `${site.func ?? `0x${site.pc.toString(16)}`} (faulting instruction)`,
      source: file ? { path: file, name: path.basename(file) } : undefined,
      line: file && site.line ? site.line : 0,
      column: file && site.line ? 1 : 0,
      instructionPointerReference: `0x${site.pc.toString(16)}`,
      presentationHint: 'label',
    };
  }

  private indexing(phase: 'start' | 'end', detail: string): void {
    if (!this.clientShowsProgress) {
      this.sendEvent(new OutputEvent(`${detail}\n`, 'console'));
      return;
    }
    if (phase === 'start') this.sendEvent(new ProgressStartEvent('kdap-index', 'kdap', detail));
    else this.sendEvent(new ProgressEndEvent('kdap-index', detail));
  }

  private progress(message: string): void {
    this.sendEvent(new OutputEvent(`${message}\n`, 'console'));
  }

  private requireEngine(): Engine {
    if (!this.engine) throw new UserError('No kernel is attached.');
    return this.engine;
  }

  private requireVariables(): Variables {
    this.requireEngine();
    return this.variables!;
  }

  private requireBreakpoints(): Breakpoints {
    this.requireEngine();
    return this.breakpoints!;
  }

  /** Breakpoints can be set while the kernel runs: it is halted unseen around the change. */
  private applyBreakpoints<T>(body: (b: Breakpoints) => Promise<T>): Promise<T> {
    const breakpoints = this.requireBreakpoints();
    return this.requireEngine().whileStopped(() => body(breakpoints));
  }

  private async guard(response: DebugProtocol.Response, body: () => Promise<unknown>): Promise<void> {
    try {
      await body();
      this.sendResponse(response);
    } catch (err) {
      const message = errorText(err);
      this.sendErrorResponse(response, { id: 1, format: message.replace(/[{}]/g, (c) => (c === '{' ? '(' : ')')), showUser: err instanceof UserError });
    }
  }
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

