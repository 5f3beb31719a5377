/** Starts QEMU for a launch request: stopped at reset (-S), gdbstub on a free local port. */
import type { Arch } from '../kernel/target';
import type { LaunchArguments } from '../adapter/config';
import { UserError } from './errors';
import { describeExit, QemuProcess } from './qemu';

export interface LaunchedQemu {
  /** host:port of QEMU's gdbstub. */
  readonly remote: string;
  onConsole(listener: (text: string) => void): void;
  onExit(listener: (why: string) => void): void;
  /** Types into the guest's serial console. */
  write(text: string): void;
  /** Kills QEMU (its whole process group) and waits until it is gone. */
  dispose(): Promise<void>;
}

export async function launchQemu(args: LaunchArguments, arch: Arch): Promise<LaunchedQemu> {
  let qemu: QemuProcess;
  try {
    qemu = await QemuProcess.start({
      kernel: args.kernel,
      initrd: args.initrd,
      append: args.append,
      arch,
      machine: args.machine,
      cpu: args.cpu,
      smp: args.smp,
      memory: args.memory,
      qemuPath: args.qemuPath,
      qemuArgs: args.qemuArgs,
      gdb: true,
      startPaused: true,
    });
  } catch (err) {
    throw new UserError(`QEMU did not start: ${err instanceof Error ? err.message : String(err)}`);
  }
  const remote = qemu.gdbAddress;
  if (!remote) {
    await qemu.kill();
    throw new UserError('QEMU started without a gdbstub.');
  }
  return {
    remote,
    onConsole: (listener) => qemu.on('console', listener),
    onExit: (listener) => qemu.on('exit', (e) => listener(describeExit(e))),
    write: (text) => void qemu.write(text),
    dispose: async () => {
      await qemu.kill();
    },
  };
}
