// b4. The "real board" scenario: the vsix of this machine's platform, installed into
// the VS Code server as a user installs it, attaches to kgdb over a serial device.
//
// The board is the x86_64 kgdb fixture kernel under QEMU (scripts/fixtures-kgdb.sh), booted
// with kgdboc=ttyS1 kgdbwait as test/e2e/kgdb.test.ts boots it: the console (ttyS0) on one TCP
// port, with QEMU logging it to a file, the kgdb UART (ttyS1) on another. socat joins that
// second port to a pseudo-terminal, and the launch configuration names the pty's device
// (/dev/pts/N) as kgdb.port, so the adapter opens it as it would open /dev/ttyUSB0: through
// the @serialport/bindings-cpp binding packed into the vsix, not through its TCP code.
//
// What is checked, with the expected values from outside kdap:
//   - before any session, the Kernel views and the palette's session commands are hidden;
//   - F5 stops in kgdb_breakpoint (where kgdbwait waits, debug_core.c) with one thread per CPU
//     the kernel reported at boot ("smp: Brought up 1 node, N CPUs" on its console) and a
//     stack down to the initcall that registered kgdboc (do_one_initcall);
//   - while stopped, the Kernel container shows the CPUs view with those CPUs, and the palette
//     offers "Kernel: Decode Virtual Address…";
//   - Shift+F5 ends the session and the Kernel views go away again.
//
// The `kgdb` part of run.mjs: it starts its own QEMU, socat, VS Code server and browser, all
// stopped through the harness's cleanups.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cache, cleanups, freePort, log, record, root, sleep, tmp } from '../harness/context.mjs';
import { kernelActivityItem, launchBrowser, openFolder, paletteRows, scenario, shot } from '../harness/browser.mjs';
import { installVsix, killGroup, startServer } from '../harness/server.mjs';

const names = [
  'kgdb-pty: without a kdap session the Kernel views, "Decode Virtual Address…" and "Show dmesg" are hidden',
  'kgdb-pty: F5 attaches through a pty and stops in kgdb_breakpoint with a thread per CPU the console reported and the stack',
  'kgdb-pty: while stopped, the CPUs view lists the CPUs and the palette offers "Decode Virtual Address…" and "Show dmesg"',
  'kgdb-pty: Shift+F5 ends the session and hides the Kernel views',
];

/** The VS Code target of this machine (what the Marketplace would serve it). */
function hostTarget() {
  if (process.platform !== 'linux') return undefined;
  const arch = { x64: 'x64', arm64: 'arm64', arm: 'armhf' }[process.arch];
  return arch && `${fs.existsSync('/etc/alpine-release') ? 'alpine' : 'linux'}-${arch}`;
}

/** Polls `check` until it returns a truthy value; an exception from it fails at once. */
async function poll(what, check, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await sleep(200);
  }
}

/** A process in its own group, stopped with the group by the harness's cleanups. */
function spawnGroup(what, cmd, args, logFile) {
  const out = fs.openSync(logFile, 'a');
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  child.on('exit', (code, signal) => (child.ended = `${code ?? signal}`));
  cleanups.push(async () => {
    await killGroup(child, what);
    log(`kgdb-pty: ${what} stopped`);
  });
  return child;
}

function readText(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Whether the palette lists `title` for its own name typed (without the category's "Kernel: "). */
async function paletteLists(page, title) {
  const rows = await paletteRows(page, title.replace(/…$/, ''));
  return rows.some((r) => r.includes(title));
}

export async function kgdbPtyScenario() {
  const target = hostTarget();
  const vsixFile = target && path.join(root, 'dist', `kdap-${target}.vsix`);
  if (!vsixFile || !fs.existsSync(vsixFile)) {
    for (const n of names) record(`ui: ${n}`, 'failed', `missing ${vsixFile ?? `a vsix for ${process.platform}-${process.arch}`}: run npm run package`);
    return;
  }
  const fixtures = JSON.parse(fs.readFileSync(path.join(cache, 'fixtures.json'), 'utf8'));
  const k = fixtures.kgdb?.x86_64;
  if (!k || !fs.existsSync(k.kernel) || !fs.existsSync(k.vmlinux)) {
    for (const n of names) record(`ui: ${n}`, 'skipped', 'missing fixture kgdb.x86_64 (the kgdb kernel): run scripts/fixtures.sh');
    return;
  }
  const dir = path.join(tmp, 'kgdb-pty');
  fs.mkdirSync(dir, { recursive: true });

  // The board: console on one port (logged), kgdb's UART on another, kgdbwait.
  const consolePort = await freePort();
  const kgdbPort = await freePort();
  const consoleLog = path.join(dir, 'console.log');
  const chardev = (id, port, file) => ['-chardev', `socket,id=${id},host=127.0.0.1,port=${port},server=on,wait=off${file ? `,logfile=${file}` : ''}`, '-serial', `chardev:${id}`];
  const qemu = spawnGroup(
    'QEMU',
    k.qemu,
    [
      ...['-M', k.machine, '-cpu', k.cpu, '-accel', 'tcg', '-smp', '2', '-m', '512M', '-display', 'none', '-monitor', 'none', '-no-reboot'],
      ...['-kernel', k.kernel, '-initrd', k.initrd],
      // rodata=off: kgdb on x86 cannot remove breakpoints from read-only kernel text (kgdb.rst).
      ...['-append', `${k.append} kgdboc=${k.kgdbTty},115200 kgdbwait rodata=off`],
      ...chardev('con', consolePort, consoleLog),
      ...chardev('kgdb', kgdbPort),
    ],
    path.join(dir, 'qemu.log'),
  );
  // The serial device: a pty whose other side is QEMU's kgdb UART.
  const ptyLink = path.join(dir, 'ttyKGDB');
  spawnGroup('socat', 'socat', ['-d', '-d', `PTY,raw,echo=0,link=${ptyLink}`, `TCP:127.0.0.1:${kgdbPort},retry=100,interval=0.1`], path.join(dir, 'socat.log'));
  await poll("socat's pty", () => fs.existsSync(ptyLink), 20_000);
  const device = fs.realpathSync(ptyLink);
  log(`kgdb-pty: QEMU pid ${qemu.pid}, kgdb UART on 127.0.0.1:${kgdbPort} = ${device}`);

  const ws = path.join(dir, 'workspace');
  fs.mkdirSync(path.join(ws, '.vscode'), { recursive: true });
  fs.writeFileSync(path.join(ws, 'README.txt'), 'kgdb through a pty\n');
  const attach = {
    type: 'kdap',
    request: 'attach',
    name: 'Attach to kgdb (pty)',
    vmlinux: k.vmlinux,
    kgdb: { port: device, baud: 115200, shareConsole: false, console: `tcp:127.0.0.1:${consolePort}` },
    sourceRoot: fixtures.sourceRoot,
    modulePaths: [path.dirname(k.kmod.ko)],
  };
  fs.writeFileSync(path.join(ws, '.vscode', 'launch.json'), JSON.stringify({ version: '0.2.0', configurations: [attach] }, null, 2));

  const server = await startServer('kgdb-pty');
  installVsix(server, vsixFile);
  log(`kgdb-pty: ${path.basename(vsixFile)} installed`);
  const { page } = await launchBrowser('kgdb-pty');
  await openFolder(page, server, ws);
  const kernelItem = kernelActivityItem(page);

  await scenario(names[0], page, async () => {
    if (await kernelItem.isVisible()) throw new Error('the Kernel container is in the activity bar without a session');
    for (const title of ['Kernel: Decode Virtual Address…', 'Kernel: Show dmesg']) {
      if (await paletteLists(page, title)) throw new Error(`the palette offers "${title}" without a kdap session`);
    }
  });

  let smp;
  try {
    smp = await poll(
      'the kernel waiting in kgdb (console: "KGDB: Waiting for connection")',
      () => {
        const text = readText(consoleLog);
        if (qemu.ended !== undefined) throw new Error(`QEMU exited (${qemu.ended}):\n${readText(path.join(dir, 'qemu.log')).slice(-800)}`);
        return /KGDB: Waiting for connection/.test(text) && /smp: Brought up \d+ nodes?, (\d+) CPUs?/.exec(text);
      },
      180_000,
    );
  } catch (err) {
    for (const n of names.slice(1)) record(`ui: ${n}`, 'failed', `no kernel waiting in kgdb: ${err.message}`);
    return;
  }
  const cpus = Number(smp[1]);
  log(`kgdb-pty: the kernel waits in kgdb on ${device}; its console says ${cpus} CPUs`);

  const attached = await scenario(names[1], page, async () => {
    await page.locator('.monaco-workbench').click({ position: { x: 700, y: 400 } }).catch(() => {});
    await page.keyboard.press('F5');
    await page.locator('.debug-toolbar').waitFor({ state: 'visible', timeout: 60_000 });
    const callStack = page.locator('.debug-call-stack');
    await callStack.locator('.monaco-list-row', { hasText: 'kgdb_breakpoint' }).first().waitFor({ timeout: 150_000 });
    await page.locator('.tabs-container .tab.active', { hasText: 'debug_core.c' }).waitFor({ timeout: 30_000 });
    // The list draws only the rows in view: give the Call Stack the side bar.
    for (const pane of ['Variables', 'Watch', 'Breakpoints']) {
      const header = page.locator('.sidebar .pane-header.expanded', { hasText: new RegExp(`^\\s*${pane}`, 'i') });
      if (await header.isVisible()) await header.click();
    }
    // kgdbwait breaks in from the initcall that registers kgdboc: the stack reaches it.
    await callStack.locator('.monaco-list-row', { hasText: 'do_one_initcall' }).first().waitFor({ timeout: 30_000 });
    await shot(page, 'kgdb-pty-stopped');
    // With CPU 0's frames folded, the threads are all in view.
    const first = callStack.locator('.monaco-list-row', { has: page.locator('.thread') }).first();
    await first.click();
    await page.keyboard.press('ArrowLeft');
    await callStack.locator('.monaco-list-row', { hasText: 'kgdb_breakpoint' }).waitFor({ state: 'hidden', timeout: 10_000 });
    const threads = await callStack.locator('.monaco-list-row .thread').allInnerTexts();
    const shown = threads.map((t) => /^(CPU \d+|Tasks)/.exec(t.trim())?.[1]).filter(Boolean);
    const want = [...Array.from({ length: cpus }, (_, i) => `CPU ${i}`), 'Tasks'];
    if (JSON.stringify(shown) !== JSON.stringify(want)) throw new Error(`threads ${JSON.stringify(shown)}, want ${JSON.stringify(want)}`);
  }, 240_000);
  if (!attached) {
    for (const n of names.slice(2)) record(`ui: ${n}`, 'failed', 'no kgdb session: F5 failed');
    return;
  }

  await scenario(names[2], page, async () => {
    await kernelItem.click();
    const cpusPane = page.locator('.sidebar .pane', { has: page.locator('.pane-header', { hasText: 'CPUs' }) });
    for (let cpu = 0; cpu < cpus; cpu++) {
      await cpusPane.locator('.monaco-list-row', { hasText: new RegExp(`CPU ${cpu}(?!\\d)`) }).first().waitFor({ timeout: 60_000 });
    }
    await shot(page, 'kgdb-pty-cpus');
    for (const title of ['Kernel: Decode Virtual Address…', 'Kernel: Show dmesg']) {
      if (!(await paletteLists(page, title))) throw new Error(`the palette does not offer "${title}" while the kdap session is stopped`);
    }
  }, 120_000);

  await scenario(names[3], page, async () => {
    await page.locator('.monaco-workbench').click({ position: { x: 700, y: 400 } }).catch(() => {});
    await page.keyboard.press('Shift+F5');
    await page.locator('.debug-toolbar').waitFor({ state: 'hidden', timeout: 60_000 });
    await kernelItem.waitFor({ state: 'hidden', timeout: 20_000 });
  }, 90_000);
}
