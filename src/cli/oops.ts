/** `kdap oops parse [--json] FILE...`: crash reports and their frames from kernel logs. */
import * as fs from 'node:fs/promises';
import { parseArgs, UsageError } from './args';
import { register } from './registry';
import { frameText, refText, reportJson } from '../oops/json';
import { parseLog } from '../oops/parse';
import type { Report } from '../oops/types';

const usage = 'usage: kdap oops parse [--json] FILE...   (FILE "-" reads stdin)';

async function readInput(file: string): Promise<string> {
  if (file !== '-') return fs.readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function who(r: Report): string {
  const parts: string[] = [r.arch];
  if (r.cpu !== undefined) parts.push(`CPU ${r.cpu}`);
  if (r.pid !== undefined) parts.push(`PID ${r.pid}${r.comm !== undefined ? ` (${r.comm})` : ''}`);
  if (r.taint !== undefined) parts.push(r.taint === '' ? 'not tainted' : `tainted ${r.taint}`);
  if (r.modules.length) parts.push(`modules: ${r.modules.join(' ')}`);
  return parts.join(', ');
}

function summary(file: string, reports: readonly Report[]): string {
  const out = [`${file}: ${reports.length} report${reports.length === 1 ? '' : 's'}`];
  for (const r of reports) {
    out.push(`  [${r.kind}] line ${r.line}: ${r.title}`);
    out.push(`    ${who(r)}`);
    if (r.pc) out.push(`    pc: ${refText(r.pc)} (line ${r.pc.line})`);
    for (const s of r.sections) {
      if (s.frames.length === 0) continue;
      out.push(`    ${s.name} (${s.frames.length} frame${s.frames.length === 1 ? '' : 's'}):`);
      for (const f of s.frames) out.push(`      ${String(f.line).padStart(6)}  ${frameText(f)}`);
    }
  }
  return out.join('\n');
}

async function parseCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, []);
  for (const flag of args.flags) if (flag !== 'json') throw new UsageError(`unknown option --${flag}\n${usage}`);
  if (args.positional.length === 0) throw new UsageError(usage);
  const json = args.flags.has('json');
  const all: object[] = [];
  const texts: string[] = [];
  let status = 0;
  for (const file of args.positional) {
    let text: string;
    try {
      text = await readInput(file);
    } catch (err) {
      process.stderr.write(`kdap oops parse: ${file}: ${err instanceof Error ? err.message : String(err)}\n`);
      status = 1;
      continue;
    }
    const log = parseLog(text);
    if (json) for (const r of log.reports) all.push(reportJson(r, file));
    else texts.push(summary(file, log.reports));
  }
  process.stdout.write(json ? JSON.stringify({ reports: all }, null, 2) + '\n' : texts.join('\n\n') + '\n');
  return status;
}

register('oops', {
  summary: 'parse crash logs',
  help: usage,
  run: async (argv) => {
    const [sub, ...rest] = argv;
    if (sub === 'parse') return parseCommand(rest);
    throw new UsageError(usage);
  },
});
