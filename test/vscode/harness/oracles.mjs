// Answers from outside kdap for the live UI scenarios: gdb alone on the vmlinux, QEMU's own
// monitor on a socket of its own (kdap and its gdb never see it), System.map, and the process
// table.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { sleep } from './context.mjs';

/** `gdb -batch VMLINUX -ex 'info line FUNC'`: the line gdb alone gives a function. */
export function gdbInfoLine(vmlinux, func) {
  const r = spawnSync('gdb-multiarch', ['-nx', '-batch', vmlinux, '-ex', `info line ${func}`], { encoding: 'utf8', timeout: 180_000 });
  const m = /Line (\d+) of "([^"]+)"/.exec(r.stdout);
  if (!m) throw new Error(`gdb could not locate ${func}: ${r.stdout}${r.stderr}`);
  return { line: Number(m[1]), file: m[2] };
}

/** A symbol's address in System.map (the fixture kernels boot with nokaslr). */
export function systemMapAddress(systemMap, name) {
  const m = new RegExp(`^([0-9a-f]{16}) \\w ${name}$`, 'm').exec(fs.readFileSync(systemMap, 'utf8'));
  if (!m) throw new Error(`${name} is not in ${systemMap}`);
  return BigInt(`0x${m[1]}`);
}

/**
 * QEMU's human monitor on a unix socket (`-monitor unix:PATH,server=on,wait=off` in qemuArgs).
 * `gva2gpa` walks the guest's page tables in QEMU's own code.
 */
export class QemuMonitor {
  constructor(socketPath) {
    this.socketPath = socketPath;
  }

  /** Runs monitor commands in one session (the selected CPU is per session); their answers. */
  async commands(lines, timeoutMs = 10_000) {
    const sock = net.connect(this.socketPath);
    let text = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => (text += d));
    await new Promise((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const prompts = () => text.split('(qemu) ').length - 1;
    const waitPrompt = async (count, what) => {
      const deadline = Date.now() + timeoutMs;
      while (prompts() < count) {
        if (Date.now() > deadline) throw new Error(`QEMU monitor: no prompt after "${what}": ${text.slice(-300)}`);
        await sleep(20);
      }
    };
    try {
      await waitPrompt(1, 'connect');
      const answers = [];
      for (const [i, line] of lines.entries()) {
        const from = text.length;
        sock.write(`${line}\n`);
        await waitPrompt(i + 2, line);
        // The line editor echoes the input with cursor moves, then a newline, then the answer.
        const chunk = text.slice(from, text.lastIndexOf('(qemu) ')).replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
        answers.push(chunk.split(/\r?\n/).slice(1).join('\n').trim());
      }
      return answers;
    } finally {
      sock.destroy();
    }
  }

  /** QEMU's translation of `va` on CPU `cpu`: a bigint, or 'unmapped'. */
  async gva2gpa(va, cpu = 0) {
    const [, text] = await this.commands([`cpu ${cpu}`, `gva2gpa 0x${va.toString(16)}`]);
    if (/unmapped/i.test(text)) return 'unmapped';
    const m = /gpa: (0x[0-9a-f]+)/i.exec(text);
    if (!m) throw new Error(`gva2gpa said: ${text}`);
    return BigInt(m[1]);
  }
}

/** The process table: pid, parent, state and command line. */
function processTable() {
  const r = spawnSync('ps', ['-eo', 'pid=,ppid=,stat=,args='], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(l))
    .filter(Boolean)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), zombie: m[3].startsWith('Z'), args: m[4] }));
}

/** Live (not zombie) descendants of `pid` whose command line matches `re`. */
export function descendants(pid, re) {
  const table = processTable();
  const below = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of table) if (below.has(p.ppid) && !below.has(p.pid)) (below.add(p.pid), (grew = true));
  }
  return table.filter((p) => p.pid !== pid && below.has(p.pid) && !p.zombie && re.test(p.args));
}

/** Whether a process is in the table and not a zombie. */
export function alive(pid) {
  return processTable().some((p) => p.pid === pid && !p.zombie);
}
