/**
 * The serial ports a board may hang on: USB adapters (ttyUSB*), CDC-ACM devices (ttyACM*), the
 * host's own UARTs (ttyS*, ttyAMA*), described from sysfs and /dev/serial/by-id where those say
 * more than the device name. An 8250 port with no UART behind it (sysfs `type` 0) is left out:
 * a PC lists ttyS0…ttyS31 whether or not they exist.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

export interface SerialPort {
  /** The device: /dev/ttyUSB0. */
  readonly path: string;
  readonly kind: 'usb' | 'acm' | 'uart';
  /** What sysfs or /dev/serial/by-id says about it: `usb-FTDI_FT232R_USB_UART_A10K1234-if00-port0`. */
  readonly description?: string;
}

const KINDS: Array<[RegExp, SerialPort['kind']]> = [
  [/^ttyUSB\d+$/, 'usb'],
  [/^ttyACM\d+$/, 'acm'],
  [/^ttyAMA\d+$/, 'uart'],
  [/^ttyS\d+$/, 'uart'],
];

async function read(p: string): Promise<string | undefined> {
  return fs.readFile(p, 'utf8').then((t) => t.trim(), () => undefined);
}

export interface SerialPortRoots {
  readonly dev?: string;
  readonly sys?: string;
}

/** The ports present now, USB first, then ACM, then UARTs; each kind in numeric order. */
export async function listSerialPorts(roots: SerialPortRoots = {}): Promise<SerialPort[]> {
  const dev = roots.dev ?? '/dev';
  const sys = roots.sys ?? '/sys/class/tty';
  const names = await fs.readdir(dev).catch(() => [] as string[]);
  const byId = new Map<string, string>();
  const idDir = path.join(dev, 'serial', 'by-id');
  for (const link of await fs.readdir(idDir).catch(() => [] as string[])) {
    const target = await fs.realpath(path.join(idDir, link)).catch(() => undefined);
    if (target) byId.set(path.basename(target), link);
  }
  const out: SerialPort[] = [];
  for (const name of names) {
    const kind = KINDS.find(([re]) => re.test(name))?.[1];
    if (!kind) continue;
    if (name.startsWith('ttyS') && (await read(path.join(sys, name, 'type'))) === '0') continue;
    const description = byId.get(name) ?? (await read(path.join(sys, name, 'device', '..', 'product')));
    out.push(description ? { path: path.join(dev, name), kind, description } : { path: path.join(dev, name), kind });
  }
  const rank = (p: SerialPort) => KINDS.findIndex(([re]) => re.test(path.basename(p.path)));
  const num = (p: SerialPort) => Number(/\d+$/.exec(p.path)?.[0] ?? 0);
  return out.sort((a, b) => rank(a) - rank(b) || num(a) - num(b));
}
