/**
 * arm64 module symbols need the .ko linked at its load addresses first: gdb 13.1 relocates the
 * DWARF of an arm64 ET_REL .ko wrongly (every non-.text code section's functions land at the
 * .text base). `ld -T empty.ld --section-start=…` (an empty SECTIONS, so each input section
 * stays its own output section) gives an ET_EXEC gdb reads right. Results are cached by file
 * and placement: a module loaded again at the same addresses costs nothing.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { hex } from '../kernel/arch/arch';
import { bestEffort } from './errors';

export class ModulePrelinker {
  private linker: Promise<string | undefined> | undefined;

  /** `linker`: an ld that links for the target; default: found on PATH. */
  constructor(
    private readonly cacheDir: string,
    private readonly configured?: string,
  ) {}

  /** The ELF of `name` linked with each section at its address in `placement`. */
  async link(name: string, elf: string, placement: ReadonlyMap<string, bigint>): Promise<string> {
    const ld = await (this.linker ??= findLinker(this.configured));
    if (!ld) throw new Error('no linker for aarch64 found (install binutils-aarch64-linux-gnu): arm64 module symbols need the .ko linked at its load address');
    const st = await fsp.stat(elf);
    const key = createHash('sha256')
      .update([path.resolve(elf), st.size, st.mtimeMs, ...[...placement].map(([n, a]) => `${n}=${a}`)].join('\0'))
      .digest('hex')
      .slice(0, 20);
    const dir = path.join(this.cacheDir, 'linked');
    const out = path.join(dir, `${name}-${key}.elf`);
    if (fs.existsSync(out)) return out;
    await fsp.mkdir(dir, { recursive: true });
    const script = path.join(dir, 'empty.ld');
    if (!fs.existsSync(script)) await fsp.writeFile(script, 'SECTIONS { }\n');
    const tmp = `${out}.${process.pid}.tmp`;
    const args = ['-T', script, '-o', tmp, '--noinhibit-exec', '--unresolved-symbols=ignore-all', '-e', '0', '-z', 'max-page-size=4096'];
    if (path.basename(ld) === 'ld') args.push('-m', 'aarch64linux');
    for (const [section, at] of placement) args.push(`--section-start=${section}=${hex(at)}`);
    args.push(elf);
    // "relocation truncated to fit" for calls into the kernel is expected: the code is never run
    // from this file, only its symbols and DWARF are read.
    const r = await run(ld, args);
    if (!fs.existsSync(tmp)) throw new Error(`${path.basename(ld)} could not link ${path.basename(elf)}: ${r.stderr.split('\n').filter((l) => !/truncated to fit|in function|additional relocation overflows/.test(l)).slice(0, 3).join(' ')}`);
    await fsp.rename(tmp, out);
    return out;
  }
}

/** An ld that can emit aarch64 ELF: the configured one, the cross ld, or a multi-target ld. */
async function findLinker(configured: string | undefined): Promise<string | undefined> {
  const candidates = configured ? [configured] : ['aarch64-linux-gnu-ld', 'aarch64-linux-gnu-ld.bfd', 'ld'];
  for (const ld of candidates) {
    const r = await bestEffort(run(ld, ['-V']), `${ld} -V`);
    if (r && r.code === 0 && (ld !== 'ld' || /aarch64linux/.test(r.stdout))) return ld;
  }
  return undefined;
}

function run(program: string, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr = (stderr + t).slice(-20_000)));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
