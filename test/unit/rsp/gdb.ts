/** Runs a real gdb (gdb-multiarch) in batch mode against an RSP port, for the focused tests. */
import { spawn } from 'node:child_process';

export interface GdbRun {
  output: string;
  code: number | null;
}

/** `commands` run one by one after `target remote`; gdb goes on after a command that fails. */
export function gdbBatch(arch: 'x86_64' | 'arm64', port: number, commands: readonly string[], timeoutMs = 60_000): Promise<GdbRun> {
  const args = ['-nx', '-batch', '-ex', 'set pagination off', '-ex', 'set width 0', '-ex', `set architecture ${arch === 'x86_64' ? 'i386:x86-64' : 'aarch64'}`];
  args.push('-ex', `target remote 127.0.0.1:${port}`, ...commands.flatMap((c) => ['-ex', c]));
  return new Promise((resolve, reject) => {
    const gdb = spawn(process.env.KDAP_GDB ?? 'gdb-multiarch', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    gdb.stdout.on('data', (d: Buffer) => (output += d.toString()));
    gdb.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      gdb.kill('SIGKILL');
      reject(new Error(`gdb did not finish within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    gdb.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run gdb-multiarch (bash scripts/setup.sh installs it): ${e.message}`));
    });
    gdb.on('close', (code) => {
      clearTimeout(timer);
      resolve({ output, code });
    });
  });
}

/** A gdb command that selects the thread whose RSP id is `tid` (gdb's own numbers vary). */
export function selectThread(tid: number): string {
  return `python [t for t in gdb.selected_inferior().threads() if t.ptid[1] == ${tid}][0].switch()`;
}
