/**
 * A gdbstub at host:port: QEMU's, started by kdap for a launch or found running for an attach,
 * or another stub. Threads are CPUs and the system registers are there; whether the stub reads
 * physical memory and keeps breakpoints out of guest memory is learnt at connect (QEMU answers
 * `qqemu.Supported`).
 */
import type { GdbBackend } from '../gdb/backend';
import type { Capabilities, Connection, ConnectionHooks, ThreadGroup } from './connection';
import type { Engine } from './engine';
import { bestEffort, UserError } from './errors';
import type { CpuThread } from './kernel-views';
import { describeExit, QemuProcess, type QemuLaunchConfig } from './qemu';
import { everyThreadIsACpu } from './threads';

export class GdbstubConnection implements Connection {
  readonly name: string;
  readonly kernelMemory = 'stub';
  readonly pageTableRoots = 'registers';
  readonly capabilities: { -readonly [K in keyof Capabilities]: Capabilities[K] } = {
    systemRegisters: true,
    physicalReads: false,
    hardwareBreakpoints: true,
    breakpointsInMemory: true,
    stopsOnOops: false,
    pause: 'interrupt',
    writeMemory: true,
    resume: true,
    threads: 'cpus',
    repeatsBreakpointStops: false,
    dropsInterrupts: false,
  };
  /** The stub answered `qqemu.Supported`: it is QEMU's (its monitor and physical mode exist). */
  qemu = false;

  /** `process`: the QEMU kdap started, which the session ends with itself. */
  constructor(
    readonly remote: string,
    private readonly process?: QemuProcess,
  ) {
    this.name = process ? 'QEMU' : 'gdbstub';
  }

  get ownsKernel(): boolean {
    return this.process !== undefined;
  }

  gdbSettings(): string[] {
    return [];
  }

  async ready(): Promise<void> {}

  async connected(engine: Engine): Promise<void> {
    this.qemu = /sstep/.test(await bestEffort(engine.maintPacket('qqemu.Supported'), 'asking for qqemu.Supported', ''));
    // QEMU keeps breakpoints in the stub (they never touch guest memory) and reads physical memory.
    this.capabilities.physicalReads = this.qemu;
    this.capabilities.breakpointsInMemory = !this.qemu;
    this.capabilities.repeatsBreakpointStops = this.qemu;
    this.capabilities.dropsInterrupts = this.qemu;
    // Step with interrupts and timers masked, so `next` does not land in an interrupt handler.
    if (this.qemu) await bestEffort(engine.maintPacket('Qqemu.sstep=0x7'), 'masking interrupts while stepping');
    // gdb caches stack and code reads in lines of 64 bytes, one packet each, and a stop's unwind
    // reads a few hundred bytes of stack. QEMU answers 1 KiB (a line never crosses a page) as
    // fast as 64 bytes, in one packet: the unwind takes a few packets, not a dozen.
    if (this.qemu) await bestEffort(engine.gdb.console('set dcache line-size 1024'), 'widening gdb\'s memory cache lines');
  }

  async beforeContinue(): Promise<void> {}

  async beforeDetach(): Promise<void> {}

  /** QEMU's threads are its vCPUs. */
  cpuThreads(gdb: GdbBackend): Promise<CpuThread[]> {
    return everyThreadIsACpu(gdb);
  }

  threadGroups(): ThreadGroup[] {
    return [];
  }

  write(text: string): void {
    this.process?.write(text);
  }

  async close(): Promise<void> {
    await this.process?.kill();
  }
}

/** Attaches to a gdbstub that is already running (QEMU `-gdb tcp::1234`, or another stub). */
export function attachGdbstub(remote: string): GdbstubConnection {
  return new GdbstubConnection(remote);
}

/** Starts QEMU for a launch: stopped at reset (-S), gdbstub on a free local port. */
export async function launchQemu(config: QemuLaunchConfig, hooks: ConnectionHooks): Promise<GdbstubConnection> {
  let qemu: QemuProcess;
  try {
    qemu = await QemuProcess.start({ ...config, gdb: true, startPaused: true });
  } catch (err) {
    throw new UserError(`QEMU did not start: ${err instanceof Error ? err.message : String(err)}`);
  }
  const remote = qemu.gdbAddress;
  if (!remote) {
    await qemu.kill();
    throw new UserError('QEMU started without a gdbstub.');
  }
  qemu.on('console', (text) => hooks.console(text));
  qemu.on('exit', (e) => hooks.lost(`QEMU exited (${describeExit(e)}).`));
  return new GdbstubConnection(remote, qemu);
}
