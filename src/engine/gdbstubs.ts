/**
 * QEMU gdbstubs running on this machine, from the command lines of qemu-system-* processes:
 * `-s` (tcp::1234), `-gdb tcp:HOST:PORT`, and `-gdb chardev:ID` with `-chardev socket,id=ID,…`.
 * What an attach configuration's `remote` should be, offered instead of typed.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

export interface Gdbstub {
  /** host:port for `remote`. */
  readonly address: string;
  readonly pid: number;
  /** qemu-system-aarch64 */
  readonly program: string;
  /** The -kernel it boots, when given. */
  readonly kernel?: string;
}

function hostPort(host: string | undefined, port: string): string | undefined {
  if (!/^\d+$/.test(port)) return undefined;
  const h = !host || host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return `${h}:${port}`;
}

/** `tcp::1234`, `tcp:127.0.0.1:1234,server=on` → host:port; other devices (unix:, stdio) → undefined. */
function tcpDevice(spec: string): string | undefined {
  const m = /^tcp:([^:,]*):(\d+)(?:,|$)/.exec(spec);
  return m ? hostPort(m[1], m[2]) : undefined;
}

/** The gdbstub address a QEMU command line opens, if any. */
export function gdbstubOfCommandLine(argv: readonly string[]): string | undefined {
  const chardevs = new Map<string, string>();
  for (let i = 0; i < argv.length - 1; i++) {
    if (argv[i] !== '-chardev') continue;
    const [backend, ...opts] = argv[i + 1].split(',');
    const o = new Map(opts.map((kv) => kv.split('=') as [string, string]));
    const port = o.get('port');
    if (backend === 'socket' && o.get('id') && port) chardevs.set(o.get('id')!, hostPort(o.get('host'), port) ?? '');
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-s') return 'localhost:1234';
    if (a === '-gdb' && i + 1 < argv.length) {
      const spec = argv[i + 1];
      if (spec.startsWith('chardev:')) return chardevs.get(spec.slice('chardev:'.length)) || undefined;
      return tcpDevice(spec);
    }
  }
  return undefined;
}

/** Every qemu-system-* process this user can see that has a TCP gdbstub. */
export async function findQemuGdbstubs(proc = '/proc'): Promise<Gdbstub[]> {
  const out: Gdbstub[] = [];
  for (const entry of await fs.readdir(proc).catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const raw = await fs.readFile(path.join(proc, entry, 'cmdline'), 'utf8').catch(() => '');
    const argv = raw.split('\0').filter((a, i, all) => a !== '' || i < all.length - 1);
    const program = path.basename(argv[0] ?? '');
    if (!program.startsWith('qemu-system-')) continue;
    const address = gdbstubOfCommandLine(argv);
    if (!address) continue;
    const k = argv.indexOf('-kernel');
    out.push({ address, pid: Number(entry), program, ...(k >= 0 && argv[k + 1] ? { kernel: argv[k + 1] } : {}) });
  }
  return out.sort((a, b) => a.pid - b.pid);
}
