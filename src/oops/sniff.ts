/**
 * Whether the head of a text file is a kernel log, with the recognisers the parser uses: report
 * headers, `Linux version`, stack entries in their strong form (`func+0x10/0x20`), and lines
 * that carry a printk timestamp or a `kernel:` syslog/journal header. Cheap enough to run on
 * every plain-text file an editor opens (a few KB, a few hundred lines at most).
 */
import { parseStackLine } from './frame';
import { detectHeader, isCutHere, isEndMarker } from './headers';
import { splitLines, splitPrefix } from './lines';

/** How much of a file is looked at. */
export const SNIFF_BYTES = 16 * 1024;
const SNIFF_LINES = 400;

const STRONG = /^(?:Linux version \d|Call [Tt]race:?$|Modules linked in:|Hardware name: |Kernel command line: )/;

export function looksLikeKernelLog(text: string): boolean {
  const lines = splitLines(text.length > SNIFF_BYTES ? text.slice(0, SNIFF_BYTES) : text).slice(0, SNIFF_LINES);
  let nonEmpty = 0;
  let stamped = 0;
  // `WARNING: …` or `BUG: …` alone is any program's log; a trace, `Call Trace:` or `Modules linked in:` is the kernel's.
  let headers = 0;
  let proof = 0;
  for (const line of lines) {
    if (line.trim() === '') continue;
    nonEmpty++;
    const p = splitPrefix(line);
    // printk prints microseconds; Xorg.0.log's `[    18.845]` is not the kernel's.
    if (p.stamped && (p.timestamp === undefined || /\.\d{6}$/.test(p.timestamp))) stamped++;
    const t = p.body.trim();
    if (STRONG.test(t) || isCutHere(t) || isEndMarker(t)) proof += 2;
    else if (parseStackLine(p.body, false)?.frame?.size !== undefined) proof++;
    else if (detectHeader(t) !== undefined) headers++;
    if (proof >= 2 && proof + headers >= 3) return true;
  }
  // A quiet dmesg or `journalctl -k`: most lines are the kernel's own.
  return nonEmpty >= 3 && stamped >= 3 && stamped * 2 >= nonEmpty;
}
