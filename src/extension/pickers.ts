/**
 * `${command:…}` pickers for launch.json (package.json `debuggers[].variables`): the vmlinux and
 * kernel image of the workspace's builds, a serial port that exists, a running QEMU's gdbstub.
 * Each returns the chosen string, or undefined when cancelled (which cancels the launch). The last
 * pick of each is offered first next time.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { findQemuGdbstubs } from '../engine/gdbstubs';
import { listSerialPorts } from '../engine/serial-ports';
import type { Ctx } from './ctx';
import { buildPlace } from './kernel-configs';
import { fileFolders, type KernelBuilds } from './kernel-builds';

export const PickerCommands = {
  vmlinux: 'kdap.pickVmlinux',
  kernelImage: 'kdap.pickKernelImage',
  serialPort: 'kdap.pickSerialPort',
  gdbstub: 'kdap.pickGdbstub',
  chooseBuild: 'kdap.chooseKernelBuild',
} as const;

interface Item extends vscode.QuickPickItem {
  value?: string;
  action?: () => Promise<string | undefined>;
}

async function pick(ctx: Ctx, key: string, title: string, items: Item[], placeHolder?: string): Promise<string | undefined> {
  const last = ctx.extCtx.workspaceState.get<string>(`kdap.pick:${key}`);
  const ordered = [...items].sort((a, b) => Number(b.value === last && last !== undefined) - Number(a.value === last && last !== undefined));
  if (last && ordered[0]?.value === last) ordered[0] = { ...ordered[0], description: `${ordered[0].description ?? ''} (last used)`.trim() };
  const choice = await vscode.window.showQuickPick(ordered, { title, placeHolder, matchOnDescription: true, matchOnDetail: true });
  if (!choice) return undefined;
  const value = choice.action ? await choice.action() : choice.value;
  if (value !== undefined) await ctx.extCtx.workspaceState.update(`kdap.pick:${key}`, value);
  return value;
}

function browse(title: string): Item {
  return {
    label: '$(folder-opened) Browse…',
    action: async () => (await vscode.window.showOpenDialog({ canSelectFiles: true, canSelectFolders: false, title }))?.[0]?.fsPath,
  };
}

function typeIn(label: string, prompt: string, value: string, validate: (v: string) => string | undefined): Item {
  return {
    label,
    action: async () => vscode.window.showInputBox({ prompt, value, validateInput: validate }),
  };
}

async function pickVmlinux(ctx: Ctx, builds: KernelBuilds): Promise<string | undefined> {
  const folders = fileFolders();
  const found = (await builds.discover()).builds.filter((b) => b.vmlinux);
  const items: Item[] = found.map((b) => ({
    label: `${b.arch ?? '?'} · ${buildPlace(b, folders)}`,
    description: b.release,
    detail: b.vmlinux,
    value: b.vmlinux,
  }));
  return pick(ctx, 'vmlinux', 'vmlinux (the ELF kernel with debug info)', [...items, browse('vmlinux')]);
}

async function pickKernelImage(ctx: Ctx, builds: KernelBuilds): Promise<string | undefined> {
  const folders = fileFolders();
  const found = (await builds.discover()).builds.filter((b) => b.image);
  const items: Item[] = found.map((b) => ({
    label: `${b.arch ?? '?'} · ${buildPlace(b, folders)}`,
    description: `${path.basename(b.image!)} ${b.release ?? ''}`.trim(),
    detail: b.image,
    value: b.image,
  }));
  return pick(ctx, 'kernelImage', 'Kernel image for QEMU (bzImage, Image)', [...items, browse('Kernel image')]);
}

const tcpPort = /^tcp:[^\s:]+:\d+$/;

async function pickSerialPort(ctx: Ctx): Promise<string | undefined> {
  const ports = await listSerialPorts();
  const items: Item[] = ports.map((p) => ({ label: p.path, description: p.kind === 'usb' ? 'USB serial' : p.kind === 'acm' ? 'USB CDC-ACM' : 'UART', detail: p.description, value: p.path }));
  items.push(
    typeIn('$(plug) TCP serial bridge…', 'ser2net, or QEMU -serial tcp::PORT,server: tcp:HOST:PORT', 'tcp:localhost:5551', (v) =>
      tcpPort.test(v.trim()) ? undefined : 'tcp:HOST:PORT, e.g. tcp:localhost:5551',
    ),
    typeIn('$(edit) Other device…', 'Serial device path', '/dev/ttyUSB0', (v) => (v.trim().startsWith('/') ? undefined : 'An absolute device path')),
  );
  return pick(ctx, 'serialPort', 'Serial port of the kgdb line', items, ports.length ? undefined : 'No serial device found on this machine');
}

async function pickGdbstub(ctx: Ctx): Promise<string | undefined> {
  const stubs = await findQemuGdbstubs();
  const items: Item[] = stubs.map((s) => ({
    label: s.address,
    description: `${s.program} (pid ${s.pid})`,
    detail: s.kernel,
    value: s.address,
  }));
  items.push(
    typeIn('$(edit) Other address…', 'host:port of a gdbstub (QEMU -s listens on localhost:1234)', 'localhost:1234', (v) =>
      /^[^\s:]+:\d+$/.test(v.trim()) ? undefined : 'host:port, e.g. localhost:1234',
    ),
  );
  return pick(ctx, 'gdbstub', 'gdbstub to attach to', items, stubs.length ? undefined : 'No QEMU with a gdbstub is running here');
}

async function chooseBuild(builds: KernelBuilds): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.length === 1 ? vscode.workspace.workspaceFolders[0] : await vscode.window.showWorkspaceFolderPick();
  const b = await builds.chooseBuild(folder, true);
  if (b && 'none' in b) void vscode.window.showInformationMessage(b.none);
  else if (b) void vscode.window.showInformationMessage(`F5 now debugs ${b.image}.`);
}

export function registerPickers(ctx: Ctx, builds: KernelBuilds): void {
  const table: Record<string, () => Promise<unknown>> = {
    [PickerCommands.vmlinux]: () => pickVmlinux(ctx, builds),
    [PickerCommands.kernelImage]: () => pickKernelImage(ctx, builds),
    [PickerCommands.serialPort]: () => pickSerialPort(ctx),
    [PickerCommands.gdbstub]: () => pickGdbstub(ctx),
    [PickerCommands.chooseBuild]: () => chooseBuild(builds),
  };
  for (const [id, run] of Object.entries(table)) ctx.pushExtCleanup(vscode.commands.registerCommand(id, run));
}
