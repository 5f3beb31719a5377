/** The process table, read with `ps`: the oracle for "nothing left behind". */
import { spawnSync } from 'node:child_process';

export interface ChildProcess {
  pid: number;
  comm: string;
  zombie: boolean;
}

/** Direct children of `parent`. */
export function childProcesses(parent: number): ChildProcess[] {
  const r = spawnSync('ps', ['-eo', 'pid=,ppid=,stat=,comm='], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(\S+)/.exec(l))
    .filter((m): m is RegExpExecArray => !!m && Number(m[2]) === parent)
    .map((m) => ({ pid: Number(m[1]), comm: m[4], zombie: m[3].startsWith('Z') }));
}

/** The process exists and is not a zombie. */
export function alive(pid: number): boolean {
  const r = spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' });
  return r.status === 0 && !r.stdout.trim().startsWith('Z');
}
