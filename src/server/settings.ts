/**
 * The `kdap.*` settings the language server symbolizes with, and the symbolizer built from them.
 *
 * Settings arrive from the client (`workspace/didChangeConfiguration` with `{ kdap: {…} }`, which
 * vscode-languageclient sends at start and on every change) or, for other editors, in the
 * initialization options. A change replaces the symbolizer: its helper processes end, the next
 * lookup starts fresh ones.
 *
 * Workspace trust: in an untrusted workspace VS Code already withholds workspace values of
 * `kdap.toolchainPrefix` and `kdap.llvmPath` (package.json lists them as restricted). The
 * extension also says so at initialization (`trusted: false`), and the server then takes neither
 * setting at all: tools come only from PATH. Files named by settings are only read, never run.
 */
import * as path from 'node:path';
import type { Symbolizer } from '../oops/symbolizer';
import { SourcePaths } from '../oops/symbolize/paths';
import { KernelSymbolizer } from '../oops/symbolize/resolver';
import type { ToolOptions } from '../oops/symbolize/tools';

export interface KdapSettings {
  vmlinux?: string;
  modulePaths?: string[];
  sourceRoot?: string;
  toolchainPrefix?: string;
  llvmPath?: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.map(str).filter((s): s is string => s !== undefined) : []);

/** Picks the known keys out of whatever the client sent. */
export function readSettings(raw: unknown): KdapSettings {
  const o = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  return { vmlinux: str(o.vmlinux), modulePaths: strs(o.modulePaths), sourceRoot: str(o.sourceRoot), toolchainPrefix: str(o.toolchainPrefix), llvmPath: str(o.llvmPath) };
}

export class SymbolizerHost {
  private current: Symbolizer | undefined;
  private settings: KdapSettings = {};
  private roots: string[] = [];
  private sourcePaths = new SourcePaths();
  trusted = true;

  /** With `injected` (tests, embedders) the settings only decide the source roots. */
  constructor(private readonly injected?: Symbolizer) {
    this.current = injected;
  }

  get symbolizer(): Symbolizer | undefined {
    return this.current;
  }

  /** Resolves log paths (`file.c:123`) inside the configured roots. */
  get paths(): SourcePaths {
    return this.current instanceof KernelSymbolizer ? this.current.paths : this.sourcePaths;
  }

  get tools(): ToolOptions {
    return this.trusted ? { toolchainPrefix: this.settings.toolchainPrefix, llvmPath: this.settings.llvmPath } : {};
  }

  /** A short reason for the user when nothing can be resolved. */
  get missing(): string | undefined {
    if (this.injected) return undefined;
    return this.settings.vmlinux || this.settings.modulePaths?.length ? undefined : 'set kdap.vmlinux (and kdap.modulePaths for modules)';
  }

  setRoots(roots: readonly string[]): void {
    this.roots = [...roots];
    this.rebuild();
  }

  /** Every `kdap.*` change arrives here (gdbPath too); only a change of ours rebuilds. */
  configure(settings: KdapSettings): void {
    if (JSON.stringify(settings) === JSON.stringify(this.settings)) return;
    this.settings = settings;
    this.rebuild();
  }

  /** `${workspaceFolder}` and relative paths are taken from the first workspace folder. */
  private expand(p: string | undefined): string | undefined {
    if (p === undefined) return undefined;
    const base = this.roots[0];
    const e = base ? p.replace(/\$\{workspaceFolder\}/g, base) : p;
    return base && !path.isAbsolute(e) ? path.join(base, e) : e;
  }

  private rebuild(): void {
    const s = this.settings;
    const sourceRoot = this.expand(s.sourceRoot);
    const modulePaths = (s.modulePaths ?? []).map((m) => this.expand(m)!);
    this.sourcePaths = new SourcePaths({ sourceRoot, roots: [...this.roots, ...modulePaths] });
    if (this.injected) return;
    this.current?.dispose();
    this.current =
      s.vmlinux || modulePaths.length
        ? new KernelSymbolizer({ vmlinux: this.expand(s.vmlinux), modulePaths, sourceRoot, roots: [...this.roots, ...modulePaths], ...this.tools })
        : undefined;
  }

  dispose(): void {
    this.current?.dispose();
    this.current = undefined;
  }
}
