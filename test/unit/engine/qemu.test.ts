import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildQemuCommand, findFreePort, kernelImageArch, QemuProcess, resolveProgram } from '../../../src/engine/qemu';

let dir: string;
let bzImage: string;
let image: string;
let initrd: string;

/** The value that follows `flag` in args (first occurrence). */
function argOf(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-qemu-'));
  // Just enough header for kernelImageArch: x86 boot protocol "HdrS" at 0x202 ...
  const bz = Buffer.alloc(0x400);
  bz.write('HdrS', 0x202, 'latin1');
  bzImage = path.join(dir, 'bzImage');
  fs.writeFileSync(bzImage, bz);
  // ... and the arm64 Image magic "ARM\x64" at 0x38.
  const img = Buffer.alloc(0x400);
  img.writeUInt32LE(0x644d5241, 0x38);
  image = path.join(dir, 'Image');
  fs.writeFileSync(image, img);
  initrd = path.join(dir, 'initramfs.cpio.gz');
  fs.writeFileSync(initrd, Buffer.alloc(16));
});

after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('buildQemuCommand', () => {
  test('x86_64: the documented recipe with a gdbstub on a free local port', async () => {
    const c = await buildQemuCommand({ kernel: bzImage, initrd, append: 'console=ttyS0 nokaslr', arch: 'x86_64' });
    assert.equal(c.program, 'qemu-system-x86_64');
    assert.equal(c.arch, 'x86_64');
    assert.equal(argOf(c.args, '-M'), 'q35');
    assert.equal(argOf(c.args, '-cpu'), 'qemu64');
    assert.equal(argOf(c.args, '-accel'), 'tcg');
    assert.equal(argOf(c.args, '-smp'), '2');
    assert.equal(argOf(c.args, '-m'), '512M');
    assert.equal(argOf(c.args, '-kernel'), bzImage);
    assert.equal(argOf(c.args, '-initrd'), initrd);
    assert.equal(argOf(c.args, '-append'), 'console=ttyS0 nokaslr');
    assert.equal(argOf(c.args, '-serial'), 'stdio');
    assert.equal(argOf(c.args, '-monitor'), 'none');
    assert.ok(c.args.includes('-nographic'));
    assert.ok(c.args.includes('-no-reboot'));
    assert.ok(!c.args.includes('-S'), 'not paused unless asked');
    assert.ok(!c.args.includes('-s'), 'never the fixed port 1234');
    assert.ok(c.gdbPort !== undefined && c.gdbPort > 0 && c.gdbPort !== 1234);
    assert.equal(argOf(c.args, '-gdb'), `tcp:127.0.0.1:${c.gdbPort}`);
  });

  test('arm64: virt machine and cortex-a57, paused when asked', async () => {
    const c = await buildQemuCommand({
      kernel: image,
      initrd,
      append: 'console=ttyAMA0 nokaslr rdinit=/init',
      arch: 'arm64',
      smp: 4,
      memory: '1G',
      startPaused: true,
    });
    assert.equal(c.program, 'qemu-system-aarch64');
    assert.equal(argOf(c.args, '-M'), 'virt');
    assert.equal(argOf(c.args, '-cpu'), 'cortex-a57');
    assert.equal(argOf(c.args, '-smp'), '4');
    assert.equal(argOf(c.args, '-m'), '1G');
    assert.equal(argOf(c.args, '-append'), 'console=ttyAMA0 nokaslr rdinit=/init');
    assert.ok(c.args.includes('-S'));
    assert.match(argOf(c.args, '-gdb') ?? '', /^tcp:127\.0\.0\.1:\d+$/);
  });

  test('the architecture comes from the kernel image when not given', async () => {
    assert.equal((await buildQemuCommand({ kernel: bzImage, gdb: false })).arch, 'x86_64');
    assert.equal((await buildQemuCommand({ kernel: image, gdb: false })).arch, 'arm64');
    const junk = path.join(dir, 'junk');
    fs.writeFileSync(junk, Buffer.alloc(0x400));
    await assert.rejects(buildQemuCommand({ kernel: junk }), /architecture/);
  });

  test('the chosen port is free: it can be bound', async () => {
    const c = await buildQemuCommand({ kernel: bzImage, arch: 'x86_64' });
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(c.gdbPort, '127.0.0.1', () => resolve());
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('two commands get different ports', async () => {
    const a = await buildQemuCommand({ kernel: bzImage, arch: 'x86_64' });
    const b = await buildQemuCommand({ kernel: bzImage, arch: 'x86_64' });
    assert.notEqual(a.gdbPort, b.gdbPort);
  });

  test('gdb: false opens no stub; an explicit port is used as given', async () => {
    const none = await buildQemuCommand({ kernel: bzImage, arch: 'x86_64', gdb: false });
    assert.equal(none.gdbPort, undefined);
    assert.ok(!none.args.includes('-gdb'));
    const fixed = await buildQemuCommand({ kernel: bzImage, arch: 'x86_64', gdbPort: 40123 });
    assert.equal(argOf(fixed.args, '-gdb'), 'tcp:127.0.0.1:40123');
  });

  test('qemuArgs are appended last, in order', async () => {
    const extra = ['-device', 'virtio-rng-pci', '-serial', 'tcp:127.0.0.1:5551,server=on,wait=off'];
    const c = await buildQemuCommand({ kernel: bzImage, arch: 'x86_64', qemuArgs: extra });
    assert.deepEqual(c.args.slice(-extra.length), extra);
    assert.equal(argOf(c.args, '-accel'), 'tcg');
  });

  test('an accelerator in qemuArgs replaces -accel tcg', async () => {
    const c = await buildQemuCommand({ kernel: bzImage, arch: 'x86_64', qemuArgs: ['-accel', 'kvm'] });
    assert.deepEqual(c.args.filter((_, i) => c.args[i - 1] === '-accel'), ['kvm']);
    const m = await buildQemuCommand({ kernel: image, arch: 'arm64', machine: 'virt,accel=kvm' });
    assert.ok(!m.args.includes('-accel'));
  });

  test('machine, cpu and append are passed as given; no -append without one', async () => {
    const c = await buildQemuCommand({ kernel: bzImage, arch: 'x86_64', machine: 'pc', cpu: 'max,+la57' });
    assert.equal(argOf(c.args, '-M'), 'pc');
    assert.equal(argOf(c.args, '-cpu'), 'max,+la57');
    assert.ok(!c.args.includes('-append'));
    assert.ok(!c.args.includes('-initrd'));
  });

  test('qemuPath: an executable is used as is, a folder gets the program name', async () => {
    const exe = await buildQemuCommand({ kernel: image, arch: 'arm64', qemuPath: '/opt/qemu/bin/qemu-system-aarch64' });
    assert.equal(exe.program, '/opt/qemu/bin/qemu-system-aarch64');
    const folder = await buildQemuCommand({ kernel: image, arch: 'arm64', qemuPath: dir });
    assert.equal(folder.program, path.join(dir, 'qemu-system-aarch64'));
  });

  test('a missing kernel or initrd is an error naming the file', async () => {
    const missing = path.join(dir, 'no-such-bzImage');
    await assert.rejects(buildQemuCommand({ kernel: missing, arch: 'x86_64' }), (e: Error) => e.message.includes(missing) && /kernel/.test(e.message));
    const noInitrd = path.join(dir, 'no-such.cpio.gz');
    await assert.rejects(buildQemuCommand({ kernel: bzImage, arch: 'x86_64', initrd: noInitrd }), (e: Error) => e.message.includes(noInitrd));
    await assert.rejects(buildQemuCommand({ kernel: dir, arch: 'x86_64' }), /not a file/);
    await assert.rejects(buildQemuCommand({ kernel: '', arch: 'x86_64' }), /kernel/);
  });

  test('bad smp, memory or arch are errors', async () => {
    await assert.rejects(buildQemuCommand({ kernel: bzImage, arch: 'x86_64', smp: 0 }), /smp/);
    await assert.rejects(buildQemuCommand({ kernel: bzImage, arch: 'x86_64', smp: 1.5 }), /smp/);
    await assert.rejects(buildQemuCommand({ kernel: bzImage, arch: 'x86_64', memory: 'lots' }), /memory/);
    await assert.rejects(buildQemuCommand({ kernel: bzImage, arch: 'riscv64' as never }), /arch/);
  });
});

describe('findFreePort', () => {
  test('returns a bindable port on 127.0.0.1, different each time', async () => {
    const ports = new Set<number>();
    for (let i = 0; i < 5; i++) ports.add(await findFreePort());
    assert.equal(ports.size, 5);
    for (const p of ports) assert.ok(p > 0 && p < 65536);
  });
});

describe('kernelImageArch', () => {
  test('reads bzImage, Image and ELF headers', () => {
    assert.equal(kernelImageArch(bzImage), 'x86_64');
    assert.equal(kernelImageArch(image), 'arm64');
    const elf = Buffer.alloc(64);
    elf.writeUInt32BE(0x7f454c46, 0);
    elf[4] = 2;
    elf[5] = 1;
    elf.writeUInt16LE(183, 18);
    const f = path.join(dir, 'vmlinux');
    fs.writeFileSync(f, elf);
    assert.equal(kernelImageArch(f), 'arm64');
    elf.writeUInt16LE(62, 18);
    fs.writeFileSync(f, elf);
    assert.equal(kernelImageArch(f), 'x86_64');
  });
});

describe('QemuProcess', () => {
  test('a QEMU that is not installed is a clear error, not a hang', async () => {
    const missing = path.join(dir, 'no-qemu-here');
    await assert.rejects(QemuProcess.start({ kernel: bzImage, arch: 'x86_64', qemuPath: missing }), (e: Error) => e.message.includes(missing) && /not found/.test(e.message));
  });

  test('resolveProgram looks on PATH and checks paths given with a slash', () => {
    assert.equal(resolveProgram('sh', '/usr/bin:/bin')?.endsWith('/sh'), true);
    assert.equal(resolveProgram('kdap-no-such-program', '/usr/bin:/bin'), undefined);
    assert.equal(resolveProgram(path.join(dir, 'bzImage')), undefined, 'not executable');
  });
});
