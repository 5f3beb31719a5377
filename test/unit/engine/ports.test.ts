import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findQemuGdbstubs, gdbstubOfCommandLine } from '../../../src/engine/gdbstubs';
import { listSerialPorts } from '../../../src/engine/serial-ports';

describe('serial ports', () => {
  test('USB and ACM first, by number; 8250 ports without a UART left out; by-id names as descriptions', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-ports-'));
    const dev = path.join(root, 'dev');
    const sys = path.join(root, 'sys');
    fs.mkdirSync(path.join(dev, 'serial', 'by-id'), { recursive: true });
    for (const n of ['ttyS0', 'ttyS1', 'ttyS10', 'ttyUSB1', 'ttyUSB0', 'ttyACM0', 'tty1', 'null', 'ttyprintk']) fs.writeFileSync(path.join(dev, n), '');
    const uart = (n: string, type: string) => {
      fs.mkdirSync(path.join(sys, n), { recursive: true });
      fs.writeFileSync(path.join(sys, n, 'type'), `${type}\n`);
    };
    uart('ttyS0', '4');
    uart('ttyS1', '0');
    uart('ttyS10', '0');
    fs.symlinkSync('../../ttyUSB0', path.join(dev, 'serial', 'by-id', 'usb-FTDI_FT232R_USB_UART_A10K1234-if00-port0'));
    fs.mkdirSync(path.join(sys, 'ttyACM0', 'device'), { recursive: true });
    fs.writeFileSync(path.join(sys, 'ttyACM0', 'product'), 'Pico\n');
    const ports = await listSerialPorts({ dev, sys });
    assert.deepEqual(
      ports.map((p) => [path.basename(p.path), p.kind, p.description]),
      [
        ['ttyUSB0', 'usb', 'usb-FTDI_FT232R_USB_UART_A10K1234-if00-port0'],
        ['ttyUSB1', 'usb', undefined],
        ['ttyACM0', 'acm', 'Pico'],
        ['ttyS0', 'uart', undefined],
      ],
    );
  });

  test('no /dev: no ports, no error', async () => {
    assert.deepEqual(await listSerialPorts({ dev: '/nonexistent-kdap', sys: '/nonexistent-kdap' }), []);
  });
});

describe('QEMU gdbstubs', () => {
  test('-s, -gdb tcp:, -gdb chardev: with a socket chardev; unix sockets and no stub give nothing', () => {
    assert.equal(gdbstubOfCommandLine(['qemu-system-x86_64', '-kernel', 'bzImage', '-s', '-S']), 'localhost:1234');
    assert.equal(gdbstubOfCommandLine(['qemu-system-aarch64', '-gdb', 'tcp::1241']), 'localhost:1241');
    assert.equal(gdbstubOfCommandLine(['qemu-system-aarch64', '-gdb', 'tcp:127.0.0.1:1241,server=on']), '127.0.0.1:1241');
    assert.equal(gdbstubOfCommandLine(['qemu-system-aarch64', '-gdb', 'tcp:0.0.0.0:5000']), 'localhost:5000');
    assert.equal(
      gdbstubOfCommandLine(['qemu-system-x86_64', '-chardev', 'socket,id=g0,host=127.0.0.1,port=4444,server=on,wait=off', '-gdb', 'chardev:g0']),
      '127.0.0.1:4444',
    );
    assert.equal(gdbstubOfCommandLine(['qemu-system-x86_64', '-gdb', 'unix:/tmp/gdb.sock,server']), undefined);
    assert.equal(gdbstubOfCommandLine(['qemu-system-x86_64', '-kernel', 'bzImage']), undefined);
  });

  test('a QEMU started here is found in /proc with its stub and kernel', async (t) => {
    // A process whose command line looks like QEMU's (node, started under that argv[0]).
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', '--', '-M', 'virt', '-kernel', '/tmp/Image', '-gdb', 'tcp::47999', '-S'], {
      argv0: 'qemu-system-aarch64',
      stdio: 'ignore',
    });
    t.after(() => void child.kill());
    let found;
    for (let i = 0; i < 50 && !found; i++) {
      await new Promise((r) => setTimeout(r, 20));
      found = (await findQemuGdbstubs()).find((s) => s.pid === child.pid);
    }
    assert.deepEqual(found, { address: 'localhost:47999', pid: child.pid, program: 'qemu-system-aarch64', kernel: '/tmp/Image' });
  });
});
