/**
 * The kernel builds and source trees of the open workspace, as VS Code sees them: which build
 * F5 launches (asked once per workspace folder when there are several, remembered in
 * workspaceState), and which source tree goes with a vmlinux (a matching workspace tree without
 * asking; otherwise located once by the user and remembered per build id in globalState).
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { findKernelBuilds, readKernelBuild, readKernelSource, type Discovery } from '../engine/kernel-tree';
import { readVmlinuxFacts } from '../engine/linked-kernel';
import { buildItem, chooseSourceTree, isLaunchable, type LaunchableBuild } from './kernel-configs';

const buildKey = (folder: vscode.WorkspaceFolder | undefined) => `kdap.build:${folder?.uri.toString() ?? '(no folder)'}`;
const sourceKey = (buildId: string) => `kdap.sourceTree:${buildId}`;

export function fileFolders(): string[] {
  return (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
}

export class KernelBuilds {
  constructor(private readonly extCtx: vscode.ExtensionContext) {}

  /** Builds and trees in and around the folders (or all workspace folders). */
  discover(folders: readonly string[] = fileFolders()): Promise<Discovery> {
    return findKernelBuilds(folders);
  }

  /**
   * The build to launch for `folder`: the only one, the one chosen before, or the user's pick.
   * `undefined` when the user cancels the pick; `none` (with why) when there is nothing to launch.
   */
  async chooseBuild(folder: vscode.WorkspaceFolder | undefined, ask = false): Promise<LaunchableBuild | undefined | { none: string }> {
    const folders = folder?.uri.scheme === 'file' ? [folder.uri.fsPath] : fileFolders();
    const found = await this.discover(folders);
    const builds = found.builds.filter(isLaunchable);
    if (builds.length === 0) {
      const unbuilt = found.builds.filter((b) => !isLaunchable(b)).map((b) => b.dir);
      return {
        none: unbuilt.length
          ? `The kernel build in ${unbuilt.join(', ')} has no vmlinux and boot image yet: build it (make, or make O=…) and press F5 again.`
          : found.sources.length
            ? `${found.sources.map((s) => s.root).join(', ')} is a kernel tree, but no build of it was found (in-tree, or make O=<dir> inside or beside it).`
            : 'No kernel build in the workspace.',
      };
    }
    if (builds.length === 1) return builds[0];
    const remembered = this.extCtx.workspaceState.get<string>(buildKey(folder));
    const known = builds.find((b) => b.dir === remembered);
    if (known && !ask) return known;
    const items = builds.map((b) => ({ ...buildItem(b, folders), build: b }));
    const pick = await vscode.window.showQuickPick(items, {
      title: 'Kernel build to debug',
      placeHolder: 'Several kernel builds here; kdap remembers the one you pick for this folder (Kernel: Choose Kernel Build… to change it)',
      matchOnDescription: true,
      matchOnDetail: true,
    });
    if (!pick) return undefined;
    await this.extCtx.workspaceState.update(buildKey(folder), pick.build.dir);
    return pick.build;
  }

  /**
   * The source tree for a session's vmlinux, or undefined. May offer (without waiting for the
   * answer) to locate one; a tree located then is used from the next session on.
   */
  async sourceTreeFor(vmlinux: string): Promise<string | undefined> {
    const build = await readKernelBuild(path.dirname(vmlinux));
    const facts = build?.source ? undefined : await readVmlinuxFacts(vmlinux).catch(() => undefined);
    const identity = facts && { banner: facts.bannerText, buildId: facts.buildId };
    const remembered = facts?.buildId ? this.extCtx.globalState.get<string | { declined: true }>(sourceKey(facts.buildId)) : undefined;
    const sources = build?.source || !facts ? [] : (await this.discover()).sources;
    const choice = chooseSourceTree({ build, identity, sources, remembered });
    if ('root' in choice) return choice.root;
    if ('ask' in choice && facts?.buildId) void this.offerToLocate(facts.buildId, facts.bannerText);
    return undefined;
  }

  private async offerToLocate(buildId: string, banner: string): Promise<void> {
    const release = /^Linux version (\S+)/.exec(banner)?.[1] ?? 'this kernel';
    const locate = 'Locate Source Tree…';
    const never = 'Not for This Kernel';
    const pick = await vscode.window.showInformationMessage(
      `No kernel source tree for ${release} in the workspace: stacks show file and line, but sources cannot open. Where is the tree this kernel was built from?`,
      locate,
      never,
    );
    if (pick === never) return void (await this.extCtx.globalState.update(sourceKey(buildId), { declined: true }));
    if (pick !== locate) return;
    const uri = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, title: `Kernel source tree of ${release}` });
    const dir = uri?.[0]?.fsPath;
    if (!dir) return;
    if (!(await readKernelSource(dir))) {
      void vscode.window.showWarningMessage(`${dir} is not a kernel source tree (no Kbuild, Makefile and scripts/ at its top).`);
      return;
    }
    await this.extCtx.globalState.update(sourceKey(buildId), dir);
    void vscode.window.showInformationMessage(`kdap will use ${dir} as the source tree of ${release} from the next session on.`);
  }
}
