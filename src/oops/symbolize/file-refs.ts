/**
 * What is worth a link in one line of log text outside a kernel-log document (a terminal, any
 * editor): frames, code registers, and `file.c:123` references: decoded frames (`(fs/proc/inode.c:352)`),
 * `WARNING: CPU: 0 PID: 1 at kernel/workqueue.c:4326 …`, `kernel BUG at mm/slub.c:435!`,
 * syzbot's `func+0x1/0x2 file.c:12`. Only the text is looked at; whether such a file may be
 * opened is decided elsewhere (paths.ts `fromLog`).
 *
 * The line is cut into tokens at blanks and brackets first, and each token is matched by an
 * anchored pattern of bounded repetitions, so a long line of noise costs linear time.
 */
import { parseStackLine } from '../frame';
import { splitPrefix } from '../lines';
import { parseRegisterLine } from '../registers';

export interface FileRef {
  /** The path as written. */
  file: string;
  line: number;
  column: number | undefined;
  /** Columns of `file:line[:column]` in the line, `end` exclusive. */
  start: number;
  end: number;
}

const MAX_LINE = 4096;
const MAX_TOKEN = 512;
const MAX_REFS = 32;
const FILE_TOKEN = /^(\/?(?:[\w.+-]{1,128}\/){0,32}[\w+-][\w.+-]{0,127}\.(?:c|h|S|s|rs|cc|cpp|lds|dts|dtsi)):(\d{1,7})(?::(\d{1,5}))?[!,.;:]?$/;

export function fileRefs(line: string): FileRef[] {
  if (line.length > MAX_LINE || !line.includes(':')) return [];
  const out: FileRef[] = [];
  const token = /[^\s()[\]<>'"`]+/g;
  for (let m = token.exec(line); m && out.length < MAX_REFS; m = token.exec(line)) {
    const tok = m[0];
    if (tok.length > MAX_TOKEN || !/:\d/.test(tok)) continue;
    const f = FILE_TOKEN.exec(tok);
    if (!f) continue;
    const length = f[1].length + 1 + f[2].length + (f[3] ? 1 + f[3].length : 0);
    out.push({ file: f[1], line: Number(f[2]), column: f[3] ? Number(f[3]) : undefined, start: m.index, end: m.index + length });
  }
  return out;
}

export interface LinkRange {
  kind: 'frame' | 'register' | 'file';
  start: number;
  end: number;
}

/** Frames (`? func+0x10/0x20 [mod]`), code registers (`RIP: 0010:func+…`) and file references in one line. */
export function kernelLinkRanges(line: string): LinkRange[] {
  if (line.length > MAX_LINE) return [];
  const out: LinkRange[] = [];
  const p = splitPrefix(line);
  const body = p.body;
  const frame = parseStackLine(body, false)?.frame;
  if (frame && frame.symbol !== undefined && !frame.inlined) out.push({ kind: 'frame', start: p.bodyStart + frame.range.start, end: p.bodyStart + frame.range.end });
  if (!frame) {
    const indent = body.length - body.trimStart().length;
    const regs = parseRegisterLine(body.trim(), p.bodyStart + indent);
    for (const loc of [regs?.pc, regs?.lr]) if (loc?.symbol !== undefined) out.push({ kind: 'register', start: loc.range.start, end: loc.range.end });
  }
  for (const r of fileRefs(line)) {
    if (!out.some((o) => r.start < o.end && o.start < r.end)) out.push({ kind: 'file', start: r.start, end: r.end });
  }
  return out;
}
