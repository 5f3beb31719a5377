/**
 * The debug info an RSP server in front of gdb needs (kernel/debug-info-snapshot.ts), recorded
 * when first needed rather than before gdb connects: `ptype/o struct task_struct` alone costs
 * more than a second on a vmlinux whose layouts are not stored yet, and nothing shown at the
 * first stop needs it.
 *
 * It can only be recorded while gdb is idle: gdb cannot answer while it waits for the server's
 * own answer. So a lookup made inside a packet before the recording is done starts it and fails
 * at once (the packet gets an error; asked again, it works), and callers from kdap's side (gdb
 * idle) wait for `ready()`.
 */
import { DebugInfoSnapshot, type DebugInfoSource } from '../kernel/debug-info-snapshot';
import { DebugInfoError } from '../kernel/struct';
import { joinTarget, type Target, type TargetMemory } from '../kernel/target';

export class DeferredDebugInfo {
  private snapshot: DebugInfoSnapshot | undefined;
  private recording: Promise<DebugInfoSnapshot> | undefined;
  /** KASLR slides told before the recording finished; its symbols are link addresses. */
  private slide = 0n;

  /**
   * `source` must answer link addresses (the vmlinux file's, or gdb's before the symbols moved):
   * the slides told by `relocate` are added to them.
   */
  constructor(
    private readonly source: () => DebugInfoSource,
    private readonly probes: ReadonlyArray<(target: Target) => Promise<unknown>>,
  ) {}

  /** Records (once; again after a failure) and resolves when done. Call with gdb idle. */
  ready(): Promise<DebugInfoSnapshot> {
    if (!this.recording) {
      const recording = DebugInfoSnapshot.record(this.source(), ...this.probes).then((s) => {
        s.relocate(this.slide);
        this.snapshot = s;
        return s;
      });
      recording.catch(() => {
        if (this.recording === recording) this.recording = undefined;
      });
      this.recording = recording;
    }
    return this.recording;
  }

  /** The kernel was found moved by `slide` (KASLR). */
  relocate(slide: bigint): void {
    if (this.snapshot) this.snapshot.relocate(slide);
    else this.slide += slide;
  }

  /** A Target with this debug info (once recorded) and `memory`'s memory. */
  withMemory(memory: TargetMemory): Target {
    return joinTarget(this.source().arch, memory, {
      symbol: async (name) => this.recorded().symbol(name),
      layout: async (name) => this.recorded().layout(name),
    });
  }

  private recorded(): DebugInfoSnapshot {
    if (this.snapshot) return this.snapshot;
    this.ready().catch(() => undefined);
    throw new DebugInfoError('kdap is reading the task layouts from the vmlinux: ask again in a moment');
  }
}
