/**
 * The seam between crash logs and source locations. The language server and the CLI hold a
 * `Symbolizer` and never care how it answers: the implementations to come resolve
 * `func+off/size [mod]` through symbols.ts (faddr2line rules) and a long-lived llvm-symbolizer
 * or addr2line process; tests use a table.
 */
import type { Arch, SymbolRef } from './types';

/** One source position; inlined callers follow the innermost position in a resolution. */
export interface SourcePosition {
  function: string | undefined;
  file: string;
  line: number;
  column: number | undefined;
  /** True for every entry but the last (the outermost, real function). */
  inlined: boolean;
}

/** What a resolver may use besides the frame: the report's architecture and kernel release. */
export interface SymbolizeContext {
  arch: Arch;
  release: string | undefined;
}

export interface Resolution {
  /** Innermost first, like `addr2line -i`. Empty when the symbol is known but has no line info. */
  positions: SourcePosition[];
  /** The object the frame was resolved in (vmlinux or a module file). */
  object: string;
}

export interface Symbolizer {
  /**
   * Resolves a frame or register location. Undefined when no object matches (unknown module,
   * symbol not found). Several results when faddr2line would list several candidates.
   * Must not throw for an unresolvable frame; rejects only for broken tooling.
   */
  resolve(ref: SymbolRef, context: SymbolizeContext): Promise<Resolution[] | undefined>;
  dispose(): void;
}
