/**
 * Shared by the CLI commands that look at a live kernel (`kdap cpus`, `kdap walk`): attach gdb
 * to a gdbstub, let the command read while the kernel is halted, and leave it as it was found.
 *
 * QEMU stops every vCPU when gdb connects, so "halt if running" is the connection itself. What
 * it was doing before is told by the monitor: `VM status: paused (prelaunch)` for a QEMU started
 * with -S that nobody has run yet, plain `paused` when our connection stopped it. QEMU resumes
 * the guest when gdb detaches, so a prelaunch guest is left by disconnecting instead, which
 * keeps it waiting at the reset vector.
 */
import { Attachment } from '../engine/attachment';
import { elfArch } from '../engine/elf-arch';
import type { Engine } from '../engine/engine';
import { attachGdbstub } from '../engine/gdbstub-connection';
import { locateRunning } from '../engine/kaslr-locate';
import type { KernelViews } from '../engine/kernel-views';
import type { LiveTarget } from '../engine/live-target';
import { option, UsageError, type ParsedArgs } from './args';
import { bestEffort } from '../engine/errors';

export interface AttachOptions {
  remote: string;
  vmlinux: string;
  gdbPath?: string;
  /** Put the task overlay between gdb and the stub (`kdap ps`, `kdap bt`). */
  tasks?: boolean;
  /** Folders with module .ko files, for commands that load the loaded modules' symbols. */
  modulePaths?: readonly string[];
}

/** QEMU's `-s` (= `-gdb tcp::1234`). */
export const defaultRemote = 'localhost:1234';

/** The `--help` lines of the options attachOptions() reads. */
export const attachHelp = [
  `  --remote HOST:PORT   the gdbstub of the running kernel (default ${defaultRemote}, QEMU's -s)`,
  '  --vmlinux VMLINUX    the vmlinux (with DWARF) of the running kernel',
  '  --gdb GDB            gdb to run (default: an arch-prefixed gdb, gdb-multiarch, then gdb)',
].join('\n');

/** --remote, --vmlinux and --gdb from parsed arguments, checked. */
export function attachOptions(args: ParsedArgs, usage: string): AttachOptions {
  const remote = option(args, 'remote') ?? defaultRemote;
  const vmlinux = option(args, 'vmlinux');
  if (!vmlinux) throw new UsageError(`--vmlinux is required\n${usage}`);
  if (!/^[^\s:]*:\d+$/.test(remote)) throw new UsageError(`--remote must be HOST:PORT, not ${remote}\n${usage}`);
  return { remote, vmlinux, gdbPath: option(args, 'gdb') };
}

/** Runs `body` with the kernel halted and its views ready; always detaches and ends gdb. */
export async function withKernel<T>(options: AttachOptions, body: (views: KernelViews<LiveTarget>, engine: Engine, kernel: Attachment) => Promise<T>): Promise<T> {
  const connection = attachGdbstub(options.remote);
  const kernel = await Attachment.start(connection, { vmlinux: options.vmlinux, arch: elfArch(options.vmlinux), gdbPath: options.gdbPath, tasks: options.tasks, modulePaths: options.modulePaths });
  const engine = kernel.engine;
  let connected = false;
  let resume = true;
  try {
    await kernel.connect();
    connected = true;
    if (connection.qemu) resume = !/prelaunch/.test(await monitor(engine, 'info status'));
    // A randomized kernel's symbols are moved by its slide (a guest at reset has none yet); said on stderr.
    if (resume) await locateRunning(kernel, (line) => !/\(slide 0\)/.test(line) && process.stderr.write(`${line}\n`));
    return await body(kernel.views, engine, kernel);
  } finally {
    if (connected) {
      const leave = resume ? engine.gdb.send('-target-detach', [], 10_000) : engine.gdb.send('-target-disconnect', [], 10_000);
      await bestEffort(leave, 'leaving the stub');
    }
    await bestEffort(engine.stop(), 'ending gdb');
    if (kernel.taskOverlay) await bestEffort(kernel.taskOverlay.close(), 'closing the task overlay');
  }
}

/** A QEMU monitor command's output, which gdb relays as target output, not console text. */
export async function monitor(engine: Engine, command: string): Promise<string> {
  let text = '';
  const collect = (chunk: string) => (text += chunk);
  engine.gdb.on('log', collect);
  try {
    await engine.gdb.console(`monitor ${command}`);
  } finally {
    engine.gdb.off('log', collect);
  }
  return text;
}
