/**
 * Where a frame is in the source: the file on this machine when the source mapping finds it,
 * otherwise the file and line the DWARF names, kept (de-emphasized) so the call stack still says
 * `init/main.c:1001` without a kernel tree, and the editor names the file it could not open.
 */
import type { DebugProtocol } from '@vscode/debugprotocol';
import * as path from 'node:path';
import type { SourceMapper } from '../engine/sources';

export type FramePlace = Pick<DebugProtocol.StackFrame, 'source' | 'line' | 'column'>;

/** `fullname` is gdb's absolute path (comp dir + file), `file` the DWARF's own name. */
export function frameSource(sources: SourceMapper, file: string | undefined, line: number | undefined, fullname?: string): FramePlace {
  const reported = fullname ?? file;
  if (!reported) return { line: 0, column: 0 };
  const name = path.basename(file ?? reported);
  const at = line && line > 0 ? { line, column: 1 } : { line: 0, column: 0 };
  const found = sources.resolve(reported);
  if (found) return { source: { path: found, name }, ...at };
  const dwarf = path.isAbsolute(reported) ? reported : file && path.isAbsolute(file) ? file : undefined;
  return { source: { name, ...(dwarf ? { path: dwarf } : {}), presentationHint: 'deemphasize', origin: 'not found on this machine' }, ...at };
}
