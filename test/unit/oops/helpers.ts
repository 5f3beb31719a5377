import * as fs from 'node:fs';
import * as path from 'node:path';
import { frameText } from '../../../src/oops/json';
import { parseLog } from '../../../src/oops/parse';
import type { ParsedLog, Report } from '../../../src/oops/types';

/** The repository root: the nearest ancestor holding test/fixtures/logs, else the working directory. */
function findRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'test', 'fixtures', 'logs'))) return dir;
    if (path.dirname(dir) === dir) return process.cwd();
  }
}

export const repoRoot = findRoot();
export const logsDir = path.join(repoRoot, 'test', 'fixtures', 'logs');

export function readLog(relative: string): string {
  return fs.readFileSync(path.join(logsDir, relative), 'utf8');
}

export function parseFixture(relative: string): ParsedLog {
  return parseLog(readLog(relative));
}

/** Frames of a report as `line: text` strings, the way a reviewer reads them. */
export function frameLines(r: Report): string[] {
  return r.frames.map((f) => `${f.line}: ${frameText(f)}`);
}

/** A snippet of log text from indented template lines (leading newline and common indent removed). */
export function snippet(text: string): string {
  const lines = text.replace(/^\n/, '').replace(/\n[ \t]*$/, '').split('\n');
  const indents = lines.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)![0].length);
  const cut = indents.length ? Math.min(...indents) : 0;
  return lines.map((l) => l.slice(cut)).join('\n') + '\n';
}
