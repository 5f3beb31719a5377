/** Launch and attach arguments, as the package.json schema declares them, with validation. */
import type { DebugProtocol } from '@vscode/debugprotocol';
import * as fs from 'node:fs';
import { UserError } from '../engine/errors';
import type { KgdbOptions } from '../engine/kgdb-connection';
import type { QemuLaunchConfig } from '../engine/qemu';
import type { PathMap } from '../engine/sources';
import type { Arch } from '../kernel/target';

interface CommonArguments {
  vmlinux?: string;
  arch?: Arch;
  gdbPath?: string;
  setupCommands?: string[];
  substitutePath?: PathMap[];
  sourceRoot?: string;
  modulePaths?: string[];
  trace?: boolean;
  /** The kernel console goes to a terminal through `kdap/serial` events, not to the Debug Console. */
  serialTerminal?: boolean;
  /** Where gdb keeps its symbol index (defaults to ~/.cache/kdap/gdb-index); "" disables it. */
  indexCacheDir?: string;
}

/** What a launch tells QEMU, as QemuProcess takes it. */
type QemuArguments = Pick<QemuLaunchConfig, 'kernel' | 'initrd' | 'append' | 'machine' | 'cpu' | 'smp' | 'memory' | 'qemuPath' | 'qemuArgs'>;

export interface LaunchArguments extends DebugProtocol.LaunchRequestArguments, CommonArguments, QemuArguments {
  /** A crash dump to open (instead of booting `kernel`): a stopped, read-only session. */
  core?: string;
  stopAt?: string;
  serialConsole?: boolean;
}

export interface AttachArguments extends DebugProtocol.AttachRequestArguments, CommonArguments {
  remote?: string;
  kgdb?: KgdbOptions;
  stopOnAttach?: boolean;
}

function requireFile(what: string, file: string | undefined, hint: string): string {
  if (!file) throw new UserError(`No ${what} given. ${hint}`);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new UserError(`${what} '${file}' does not exist. ${hint}`);
  }
  if (!stat.isFile()) throw new UserError(`${what} '${file}' is not a file.`);
  return file;
}

function checkVmlinux(file: string | undefined): string {
  return requireFile('vmlinux', file, 'Set "vmlinux" to the ELF kernel with debug info (CONFIG_DEBUG_INFO) of the running kernel.');
}

export function checkLaunch(args: LaunchArguments): LaunchArguments {
  requireFile('kernel image', args.kernel, 'Set "kernel" to a bzImage (x86_64) or Image (arm64).');
  checkVmlinux(args.vmlinux);
  if (args.initrd) requireFile('initrd', args.initrd, 'Fix "initrd" or remove it.');
  if (args.smp !== undefined && (!Number.isInteger(args.smp) || args.smp < 1 || args.smp > 64)) {
    throw new UserError(`"smp" must be a whole number from 1 to 64, not ${JSON.stringify(args.smp)}.`);
  }
  if (args.memory !== undefined && !/^\d+[KMGT]?$/i.test(args.memory)) {
    throw new UserError(`"memory" must look like "512M" or "2G", not ${JSON.stringify(args.memory)}.`);
  }
  return args;
}

export function checkDumpLaunch(args: LaunchArguments): LaunchArguments {
  requireFile('crash dump', args.core, 'Set "core" to a kdump vmcore or a QEMU dump-guest-memory file.');
  requireFile('vmlinux', args.vmlinux, 'Set "vmlinux" to the ELF kernel with debug info (CONFIG_DEBUG_INFO) of the dumped kernel.');
  return args;
}

export function checkAttach(args: AttachArguments): AttachArguments {
  checkVmlinux(args.vmlinux);
  if (!args.remote && !args.kgdb) throw new UserError('Set "remote" (host:port of a gdbstub) or "kgdb" to attach.');
  if (args.remote && !/^[^\s:]*:\d+$/.test(args.remote)) {
    throw new UserError(`"remote" must be host:port, not ${JSON.stringify(args.remote)}.`);
  }
  return args;
}
