/**
 * The DAP session: a router from requests to the engine and the feature modules (stops,
 * stack traces, variables, breakpoints, memory, evaluate, custom requests). Handlers throw;
 * `guard` turns every throw into one error response, so no request is left hanging.
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
import * as exec from '../gdb/mi/exec';
import * as bp from '../gdb/mi/breakpoints';
import { Attachment } from '../engine/attachment';
import type { Connection, ConnectionHooks } from '../engine/connection';
import { elfArch } from '../engine/elf-arch';
import type { StopInfo } from '../engine/engine';
import { bestEffort, errorText, swallowedErrors, type Swallowed, UserError } from '../engine/errors';
import { dedupeFtraceLocations } from '../engine/ftrace';
import { attachGdbstub, launchQemu } from '../engine/gdbstub-connection';
import { locateAtBoot, locateRunning } from '../engine/kaslr-locate';
import { checkKgdbOptions, KgdbConnection } from '../engine/kgdb-connection';
import { DumpConnection } from '../engine/dump-connection';
import { withLaunchDefaults } from '../engine/launch-defaults';
import type { ModuleSymbolsHooks } from '../engine/module-symbols';
import { SourceMapper } from '../engine/sources';
import { stepOut } from '../engine/step-out';
import type { Arch } from '../kernel/target';
import { requireResumable, type Attached } from './attached';
import { Breakpoints, kernelExceptions, toDapBreakpoint } from './breakpoints';
import { AttachArguments, checkAttach, checkDumpLaunch, checkLaunch, LaunchArguments } from './config';
import { evaluate } from './evaluate';
import { disassemble, readMemory, writeMemory } from './memory';
import type { CustomEvents } from './protocol';
import { customRequests, isCustomRequest, type RequestContext } from './requests';
import { StackTraces } from './stack-trace';
import { Stops, crashThread } from './stops';
import { decodeFrameId } from './handles';
import { Variables } from './variables';

/** Where the session is: nothing yet, a connection whose gdb is starting, or a kernel attached. */
type Phase =
  | { readonly kind: 'idle' }
  | { readonly kind: 'connecting'; readonly connection: Connection }
  | { readonly kind: 'attached'; readonly attached: Attached };

// Not LoggingDebugSession: nothing calls logger.setup(), so it would queue the JSON of every
// message sent and received for the whole session (bench/soak.mjs: ~7 KB of heap per stop).
export class KdapSession extends DebugSession {
  private phase: Phase = { kind: 'idle' };
  private readonly stops = new Stops();
  private readonly stacks = new StackTraces();
  private configurationDone!: () => void;
  private readonly configured = new Promise<void>((resolve) => (this.configurationDone = resolve));
  private terminated = false;
  /** linux_banner could not be compared yet (memory unreadable at connect). */
  private bannerPending = false;
  /** KASLR: the launch could not stop where the slide is known; the first stop finds it. */
  private slidePending = false;
  private slideTries = 0;
  /** KASLR: finding the slide stopped the boot at stopAt's entry already. */
  private atStopAt = false;
  /** Stops before the first one we hand to the client (the connect stop at reset) are ours. */
  private reporting = false;
  private clientShowsProgress = false;
  /** Undone when the session ends (subscriptions to process-wide channels). */
  private readonly cleanups: Array<() => void> = [];
  private readonly requests: RequestContext = {
    attached: () => this.requireAttached(),
    type: (text) => this.connection()?.write(text),
    focus: (threadId) => {
      const event = new StoppedEvent('task', threadId) as DebugProtocol.StoppedEvent;
      event.body.preserveFocusHint = false;
      event.body.allThreadsStopped = true;
      this.sendEvent(event);
    },
  };

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
    void this.guard(response, async () => {
      if (args.core) {
        await this.begin(args, checkDumpLaunch, (arch) => DumpConnection.open({ core: args.core!, vmlinux: args.vmlinux!, arch }, this.connectionHooks(args)), { booted: true, stopAt: 'here' });
        return;
      }
      const full = await withLaunchDefaults(args, (line) => this.progress(line));
      await this.begin(full, checkLaunch, (arch) => launchQemu({ ...full, arch }, this.connectionHooks(full)), { booted: false, stopAt: full.stopAt ?? 'start_kernel' });
    });
  }

  protected override attachRequest(response: DebugProtocol.AttachResponse, args: AttachArguments): void {
    void this.guard(response, () =>
      // kgdb: the line and its console first; gdb connects through the local port once the kernel is in kgdb.
      this.begin(args, checkAttach, async () => (args.kgdb ? KgdbConnection.open(checkKgdbOptions(args.kgdb), this.connectionHooks(args)) : attachGdbstub(args.remote!)), {
        booted: true,
        stopAt: args.stopOnAttach === false ? 'none' : 'here',
      }),
    );
  }

  /**
   * Launch and attach alike: check the arguments, open the connection, attach, load the
   * modules' symbols (`booted`: the kernel is past its reset vector) and make the first stop.
   */
  private begin<A extends LaunchArguments | AttachArguments>(
    args: A,
    check: (args: A) => unknown,
    open: (arch: Arch) => Promise<Connection>,
    first: { booted: boolean; stopAt: string },
  ): Promise<void> {
    return this.orCleanUp(async () => {
      check(args);
      this.traceSwallowedErrors(args);
      const arch = args.arch ?? elfArch(args.vmlinux!);
      await this.attach(await open(arch), args, arch, first);
      const modules = this.requireAttached().kernel.modules;
      if (first.booted && first.stopAt === 'here') {
        // The loaded modules' symbols before the first stop shows a frame; the hooks that follow
        // insmod and rmmod only matter once the kernel runs again.
        await modules.loadPresent();
        modules.followFromResume();
      } else {
        await modules.start(first.booted);
      }
      await this.configureAndStop(this.atStopAt ? 'here' : this.slidePending && first.stopAt !== 'reset' ? 'none' : first.stopAt);
    });
  }

  /** Starts gdb for `connection`, connects it, and checks that the vmlinux is the running kernel's. */
  private async attach(connection: Connection, args: LaunchArguments | AttachArguments, arch: Arch, first: { booted: boolean; stopAt: string }): Promise<void> {
    this.phase = { kind: 'connecting', connection };
    this.progress('Loading vmlinux symbols…');
    const kernel = await Attachment.start(connection, {
      vmlinux: args.vmlinux!,
      arch,
      gdbPath: args.gdbPath,
      indexCacheDir: args.indexCacheDir,
      substitutePath: args.substitutePath,
      sourceRoot: args.sourceRoot,
      setupCommands: args.setupCommands,
      onIndexing: (phase, detail) => this.indexing(phase, detail),
      onTrace: args.trace ? (dir, line) => this.sendEvent(new OutputEvent(`${dir === 'send' ? '→' : '←'} ${line}\n`, 'console')) : undefined,
      modulePaths: args.modulePaths,
      moduleHooks: this.moduleHooks(),
      tasks: { trace: args.trace ? (line) => this.sendEvent(new OutputEvent(`${line}\n`, 'console')) : undefined },
    });
    if (this.terminated) {
      // The session ended while gdb was loading the symbols.
      await kernel.close();
      throw new UserError('The session ended.');
    }
    const gdb = kernel.engine.gdb;
    const attached: Attached = {
      kernel,
      variables: new Variables(gdb, arch),
      breakpoints: new Breakpoints(gdb, arch, connection),
      sources: new SourceMapper(args.sourceRoot, args.substitutePath),
    };
    this.phase = { kind: 'attached', attached };
    const engine = kernel.engine;
    engine.on('stopped', (s) => void this.onStopped(attached, s));
    engine.on('running', () => {
      this.stops.resumed();
      this.stacks.resumed();
      void attached.variables.reset();
    });
    engine.on('console', (text) => this.sendEvent(new OutputEvent(text, 'console')));
    engine.on('exited', (why) => this.end(`gdb exited: ${why}`));
    engine.on('lost', (why) => {
      // When the connection reports its own end (QEMU exited, with the status), that is the better message: let it come first.
      setTimeout(() => this.end(`Lost the connection to the kernel's gdbstub: ${why}.`), connection.ownsKernel ? 250 : 0);
    });
    await kernel.connect();
    await this.locate(kernel, args, first);
    await this.verifyBanner();
  }

  /** KASLR: where the kernel runs, found before anything reads a symbol (engine/kaslr-locate.ts). */
  private async locate(kernel: Attachment, args: LaunchArguments | AttachArguments, first: { booted: boolean; stopAt: string }): Promise<void> {
    const say = (line: string) => this.progress(line);
    if (first.booted) {
      await locateRunning(kernel, say);
      return;
    }
    const launch = args as LaunchArguments;
    const at = await locateAtBoot(kernel, { image: launch.kernel!, append: launch.append, stopAt: first.stopAt }, say);
    this.slidePending = at.slide === undefined;
    this.atStopAt = at.atStopAt;
  }

  /** A launch or attach that fails leaves no gdb or QEMU behind (and a VM it found, running). */
  private async orCleanUp(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (err) {
      if (!this.terminated) await bestEffort(this.teardown(), 'cleaning up after a failed launch or attach');
      throw err;
    }
  }

  /**
   * Symbols of another build would show plausible but wrong source lines and values: compare
   * linux_banner in the file with the running kernel's before showing anything. Memory may not
   * be readable yet (at reset); then the first stop checks again.
   */
  private async verifyBanner(final = false): Promise<void> {
    const engine = this.requireAttached().kernel.engine;
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

  /** Hands control to the client for breakpoints, then makes the first stop happen. */
  private async configureAndStop(stopAt: string): Promise<void> {
    this.sendEvent(new InitializedEvent());
    await this.configured;
    const { kernel } = this.requireAttached();
    const engine = kernel.engine;
    this.reporting = true;
    if (stopAt === 'reset' || stopAt === 'here') {
      if (this.bannerPending) await this.verifyBanner(true);
      const crash = kernel.connection.crash;
      if (crash) {
        this.sendEvent(this.stops.crashed(crash, await crashThread(kernel, crash.cpu)));
      } else {
        // Every CPU is halted here too; without the flag VS Code shows the others as running.
        const entry = new StoppedEvent('entry', engine.stopInfo?.threadId ?? 1) as DebugProtocol.StoppedEvent;
        entry.body.allThreadsStopped = true;
        this.sendEvent(entry);
      }
      return;
    }
    if (stopAt !== 'none') {
      // Hardware: early boot runs before paging is on, where a software breakpoint may not hold.
      const b = await bp.insert(engine.gdb, stopAt, { temporary: true, hardware: true }).catch((err: unknown) => {
        throw new UserError(`Cannot stop at '${stopAt}': ${errorText(err)}`);
      });
      await dedupeFtraceLocations(engine.gdb, kernel.arch, b);
      this.stops.entryBreakpoint = b.number;
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

  /**
   * The client went away without a `disconnect` (its socket closed): end the session as a
   * disconnect would, so nothing it started is left running in a server that lives on.
   */
  async clientGone(): Promise<void> {
    await bestEffort(this.teardown(), 'ending a session whose client went away');
  }

  protected override terminateRequest(response: DebugProtocol.TerminateResponse): void {
    void this.guard(response, async () => {
      await this.teardown();
      this.end();
    });
  }

  /** Ends everything the session started, once: later callers wait for the same end. */
  private teardown(): Promise<void> {
    this.ended ??= this.endEverything();
    return this.ended;
  }

  private ended?: Promise<void>;

  private async endEverything(): Promise<void> {
    this.terminated = true;
    for (const undo of this.cleanups.splice(0)) undo();
    const phase = this.phase;
    this.phase = { kind: 'idle' };
    if (phase.kind === 'attached') await phase.attached.kernel.close();
    if (phase.kind === 'connecting') await phase.connection.close();
  }

  private end(message?: string): void {
    if (message && !this.terminated) this.sendEvent(new OutputEvent(`${message}\n`, 'important'));
    if (this.terminated && message) return;
    this.terminated = true;
    void this.teardown().finally(() => this.sendEvent(new TerminatedEvent()));
  }

  // ---- run control -------------------------------------------------------------------------

  private async onStopped(a: Attached, s: StopInfo): Promise<void> {
    // Stops while the session ends (a detach halting the kernel) are nobody's to see.
    if (this.terminated) return;
    // Module loads and unloads stop at hidden breakpoints: handled there, never shown.
    if (await a.kernel.modules.onStop(s)) return;
    if (!this.reporting) return;
    if (this.slidePending) {
      // Said once: a stop before the kernel maps itself (reset) cannot show it yet.
      const slide = await locateRunning(a.kernel, (line) => this.progress(line), this.slideTries++ > 0).catch((e: unknown) => this.progress(`KASLR: ${errorText(e)}`));
      this.slidePending = slide === undefined;
      this.stacks.forgetSources();
    }
    if (this.bannerPending) {
      const wrong = await this.verifyBanner(true).then(() => undefined, (e: unknown) => errorText(e));
      if (wrong) return this.end(wrong);
    }
    if (s.reason === 'exited' || s.reason === 'exited-normally') return this.end('The target exited.');
    const event = await this.stops.event(a, s, (text) => this.sendEvent(new OutputEvent(text, 'console')));
    if (!event) return;
    // What the client asks first (the stopped thread's frames, the top frame's locals), asked of gdb now.
    const thread = event.body.threadId;
    if (thread !== undefined) {
      this.stacks.readAheadStop(a, thread);
      a.variables.readAheadLocals(thread, 0);
    }
    this.sendEvent(event);
  }

  protected override continueRequest(response: DebugProtocol.ContinueResponse): void {
    void this.guard(response, async () => {
      await (await this.resumable()).kernel.engine.continue();
      response.body = { allThreadsContinued: true };
    });
  }

  protected override pauseRequest(response: DebugProtocol.PauseResponse): void {
    void this.guard(response, () => {
      const a = this.requireAttached();
      requireResumable(a);
      return a.kernel.engine.interrupt();
    });
  }

  protected override nextRequest(response: DebugProtocol.NextResponse, args: DebugProtocol.NextArguments): void {
    void this.guard(response, async () => exec.next((await this.resumable()).kernel.engine.gdb, args.threadId, args.granularity === 'instruction'));
  }

  protected override stepInRequest(response: DebugProtocol.StepInResponse, args: DebugProtocol.StepInArguments): void {
    void this.guard(response, async () => exec.step((await this.resumable()).kernel.engine.gdb, args.threadId, args.granularity === 'instruction'));
  }

  protected override stepOutRequest(response: DebugProtocol.StepOutResponse, args: DebugProtocol.StepOutArguments): void {
    void this.guard(response, async () => {
      this.stops.stepOutBreakpoint = await stepOut((await this.resumable()).kernel.engine.gdb, args.threadId);
    });
  }

  // ---- state ---------------------------------------------------------------------------------

  protected override threadsRequest(response: DebugProtocol.ThreadsResponse): void {
    void this.guard(response, async () => {
      const a = this.phase.kind === 'attached' ? this.phase.attached : undefined;
      if (!a || a.kernel.engine.state !== 'stopped') {
        response.body = { threads: [{ id: 1, name: 'CPU 0' }] };
        return;
      }
      response.body = { threads: (await a.kernel.threads.list()).map((t) => ({ id: t.id, name: t.name })) };
    });
  }

  protected override stackTraceRequest(response: DebugProtocol.StackTraceResponse, args: DebugProtocol.StackTraceArguments): void {
    void this.guard(response, async () => {
      response.body = await this.stacks.stackTrace(this.requireAttached(), args, this.stops.faultAt(args.threadId));
    });
  }

  protected override scopesRequest(response: DebugProtocol.ScopesResponse, args: DebugProtocol.ScopesArguments): void {
    void this.guard(response, async () => {
      response.body = { scopes: this.stacks.scopes(this.requireAttached(), args) };
    });
  }

  protected override variablesRequest(response: DebugProtocol.VariablesResponse, args: DebugProtocol.VariablesArguments): void {
    void this.guard(response, async () => {
      response.body = { variables: await this.requireAttached().variables.variables(args.variablesReference, args.start, args.count) };
    });
  }

  protected override evaluateRequest(response: DebugProtocol.EvaluateResponse, args: DebugProtocol.EvaluateArguments): void {
    // A console command may load or move symbols (add-symbol-file, symbol-file -o).
    if (args.context === 'repl') this.stacks.forgetSources();
    void this.guard(response, async () => {
      response.body = await evaluate(this.requireAttached(), args);
    });
  }

  protected override setVariableRequest(response: DebugProtocol.SetVariableResponse, args: DebugProtocol.SetVariableArguments): void {
    void this.guard(response, async () => {
      response.body = { value: await this.writable().variables.setChild(args.variablesReference, args.name, args.value) };
    });
  }

  protected override setExpressionRequest(response: DebugProtocol.SetExpressionResponse, args: DebugProtocol.SetExpressionArguments): void {
    void this.guard(response, async () => {
      const where = args.frameId !== undefined ? decodeFrameId(args.frameId) : { thread: 1, frame: 0 };
      response.body = { value: await this.writable().variables.setVariable(args.expression, args.value, where.thread, where.frame) };
    });
  }

  protected override readMemoryRequest(response: DebugProtocol.ReadMemoryResponse, args: DebugProtocol.ReadMemoryArguments): void {
    void this.guard(response, async () => {
      response.body = await readMemory(this.requireAttached(), args);
    });
  }

  protected override writeMemoryRequest(response: DebugProtocol.WriteMemoryResponse, args: DebugProtocol.WriteMemoryArguments): void {
    void this.guard(response, async () => {
      response.body = await writeMemory(this.requireAttached(), args);
    });
  }

  protected override disassembleRequest(response: DebugProtocol.DisassembleResponse, args: DebugProtocol.DisassembleArguments): void {
    void this.guard(response, async () => {
      response.body = await disassemble(this.requireAttached(), args);
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
      response.body = { dataId: args.name, description: `watch ${args.name}`, accessTypes: ['write', 'read', 'readWrite'], canPersist: false };
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
      response.body = this.stops.exceptionInfo();
    });
  }

  // ---- plumbing ------------------------------------------------------------------------------

  protected override customRequest(command: string, response: DebugProtocol.Response, args: unknown): void {
    void this.guard(response, async () => {
      if (!isCustomRequest(command)) throw new UserError(`'${command}' is not supported by this adapter version.`);
      response.body = await customRequests[command](args as never, this.requests);
    });
  }

  /** A custom event, with the body its name declares (protocol.ts). */
  private sendCustomEvent<K extends keyof CustomEvents>(name: K, body: CustomEvents[K]): void {
    this.sendEvent(new Event(name, body));
  }

  /** With `trace: true`, every error kdap swallows is printed (engine/errors.ts). */
  private traceSwallowedErrors(args: LaunchArguments | AttachArguments): void {
    if (!args.trace) return;
    const print = (message: unknown) => {
      const s = message as Swallowed;
      this.sendEvent(new OutputEvent(`(ignored) ${s.where}: ${s.error}\n`, 'console'));
    };
    swallowedErrors.subscribe(print);
    this.cleanups.push(() => swallowedErrors.unsubscribe(print));
  }

  private connectionHooks(args: LaunchArguments | AttachArguments): ConnectionHooks {
    return {
      console: (text) => this.serialOutput(text, args),
      say: (message) => this.progress(message),
      lost: (message) => this.end(message),
      trace: args.trace ? (line) => this.sendEvent(new OutputEvent(`${line}\n`, 'console')) : undefined,
    };
  }

  private moduleHooks(): ModuleSymbolsHooks {
    return {
      say: (text) => this.progress(text),
      breakpointChanged: (b) => this.sendEvent(new BreakpointEvent('changed', toDapBreakpoint(b))),
      modulesChanged: (change) => {
        this.stacks.forgetSources();
        this.sendCustomEvent('kdap/modulesChanged', change);
      },
    };
  }

  private serialOutput(text: string, args: LaunchArguments | AttachArguments): void {
    if ((args as LaunchArguments).serialConsole === false) return;
    if (args.serialTerminal) this.sendCustomEvent('kdap/serial', { text });
    else this.sendEvent(new OutputEvent(text, 'stdout'));
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

  /** The connection, as soon as there is one (console keystrokes may come while gdb loads). */
  private connection(): Connection | undefined {
    if (this.phase.kind === 'attached') return this.phase.attached.kernel.connection;
    if (this.phase.kind === 'connecting') return this.phase.connection;
    return undefined;
  }

  private requireAttached(): Attached {
    if (this.phase.kind !== 'attached') throw new UserError('No kernel is attached.');
    return this.phase.attached;
  }

  /** Before the kernel runs again, module symbols follow insmod and rmmod (see `begin`). */
  private async resumable(): Promise<Attached> {
    const a = this.requireAttached();
    requireResumable(a);
    await a.kernel.modules.follow();
    return a;
  }

  private writable(): Attached {
    const a = this.requireAttached();
    if (!a.kernel.connection.capabilities.writeMemory) throw new UserError(`Variables cannot be written${a.kernel.connection.capabilities.resume ? ` through ${a.kernel.connection.name}` : `: ${a.kernel.connection.name} is read-only`}.`);
    return a;
  }

  /** Breakpoints can be set while the kernel runs: it is halted unseen around the change. */
  private applyBreakpoints<T>(body: (b: Breakpoints) => Promise<T>): Promise<T> {
    const a = this.requireAttached();
    return a.kernel.engine.whileStopped(() => body(a.breakpoints));
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
