// "Kernel: Open Crash Dump…" on the x86_64 kdump fixture (scripts/fixtures-dumps.sh: the guest
// panicked through sysrq with kdump loaded, and printed its /proc before). Each scenario checks
// what the window shows against what that guest printed (truths.json): its panic on the console,
// the CPU and task of the panic, its call trace, a sleeping task's /proc/PID/stack, its dmesg.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cache, copyWorkspace, log, record, results } from '../harness/context.mjs';
import { focusWorkbench, launchBrowser, openFolder, openKernelContainer, paletteCommand, scenario, shot, until, viewPane, viewRows } from '../harness/browser.mjs';
import { allViewRows, callStackThreads, loadAllFrames, countInEditor, procComm, expandPane, realFrames, revealViewRow, showRunView, stackMatches } from '../harness/debug-views.mjs';
import { alive, descendants } from '../harness/oracles.mjs';
import { installVsix, printDiagnostics, startServer } from '../harness/server.mjs';

const dumpDir = path.join(cache, 'dumps', 'x86_64', 'kdump');
const dumpFile = path.join(dumpDir, 'vmcore-c-d31.kdump');

export const dumpNames = [
  '"Kernel: Open Crash Dump…" on a kdump vmcore: the session stops on the panic, on the CPU the console named, with its call trace',
  'the crash dump\'s CPUs view: the panicking CPU runs the task the console named',
  'the crash dump\'s Tasks view: a sleeping task\'s Call Stack is the /proc/PID/stack the guest printed before the panic',
  'the crash dump\'s "Show dmesg" ends with the guest\'s own dmesg and the panic',
  'Shift+F5 closes the crash dump: its gdb is gone',
];

/** The kernel's call trace on the console, as function names (no `?` guesses, no .cold suffixes). */
function consoleTrace(lines) {
  const out = [];
  for (const l of lines.slice(lines.findIndex((x) => /Call Trace:/i.test(x)) + 1)) {
    if (/<\/TASK>|RIP:/.test(l)) break;
    const m = /\]\s+([A-Za-z_][\w.]*)\+0x[0-9a-f]+\/0x[0-9a-f]+/.exec(l);
    if (m && !/\]\s+\? /.test(l)) out.push(m[1].replace(/\.(cold|isra\.\d+|constprop\.\d+|part\.\d+)$/, ''));
  }
  return out.filter((n) => n !== 'dump_stack_lvl');
}

export async function dumpScenarios(manifest) {
  if (!fs.existsSync(dumpFile) || !fs.existsSync(path.join(dumpDir, 'truths.json'))) {
    for (const n of dumpNames) record(`ui: ${n}`, 'skipped', `missing fixture ${dumpFile}: run flock /tmp/kdap-qemu.lock bash scripts/fixtures-dumps.sh`);
    return;
  }
  const truths = JSON.parse(fs.readFileSync(path.join(dumpDir, 'truths.json'), 'utf8'));
  const consoleText = truths.panicConsole.join('\n');
  const [, panicCpu, panicPid, panicComm] = /CPU: (\d+) PID: (\d+) Comm: (\S+)/.exec(consoleText);
  const panicLine = truths.panicConsole.find((l) => /Kernel panic - not syncing/.test(l)).replace(/^\[[^\]]*\]\s*/, '');
  const fx = manifest.arches.x86_64;

  const server = await startServer('dump');
  installVsix(server);
  const ws = copyWorkspace('dump-workspace');
  fs.mkdirSync(path.join(ws, '.vscode'), { recursive: true });
  fs.writeFileSync(path.join(ws, '.vscode', 'settings.json'), JSON.stringify({ 'kdap.vmlinux': fx.vmlinux, 'kdap.sourceRoot': manifest.sourceRoot }, null, 2));
  const browser = await launchBrowser('dump');
  const { page } = browser;
  const failedBefore = results.filter((r) => r.status === 'failed').length;
  await openFolder(page, server, ws);
  log('dump: workbench ready');
  let gdb = [];

  const opened = await scenario(dumpNames[0], page, async () => {
    await paletteCommand(page, 'Kernel: Open Crash Dump…', { filter: 'Kernel: Open Crash Dump' });
    // The web workbench's own file dialog: a quick input that takes a path.
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    // It starts with the workspace folder's path filled in: replace that once it is there.
    await until('the dialog\'s starting path', async () => (await input.inputValue()).startsWith('/'), 10_000);
    await page.waitForTimeout(500);
    await input.fill(dumpFile);
    await until(`the typed path ${dumpFile}`, async () => (await input.inputValue()) === dumpFile || { ok: false, value: await input.inputValue() }, 10_000);
    await page.keyboard.press('Enter');
    await until('the path taken', async () => {
      if (!(await input.isVisible())) return true;
      // The dialog may first complete the typed path; Enter again opens it.
      await page.keyboard.press('Enter');
      return false;
    }, 30_000, 1000);
    // gdb reads the vmlinux's symbols first (a fresh profile has no index cache yet).
    await page.locator('.debug-toolbar').waitFor({ state: 'visible', timeout: 300_000 });
    await showRunView(page);
    const cpuName = `CPU ${panicCpu}`;
    const thread = await until(`the thread of ${cpuName} paused on the panic`, async () => {
      if (!(await loadAllFrames(page))) return { ok: false, loading: true };
      const threads = await callStackThreads(page);
      return threads.find((t) => /Paused on Kernel panic/i.test(t.text) && t.frames.length >= 5) ?? { ok: false, threads };
    }, 180_000, 500);
    if (!thread.text.startsWith(cpuName)) throw new Error(`the panic's thread is "${thread.text}"; the console: "CPU: ${panicCpu} PID: ${panicPid}"`);
    // The console's call trace from panic() down is the run of our frames from panic() down.
    const trace = consoleTrace(truths.panicConsole);
    const frames = realFrames(thread.frames);
    const from = frames.indexOf('panic');
    const ours = frames.slice(from).filter((n) => trace.includes(n));
    if (from < 0 || from > 3 || ours.length < trace.length - 2 || JSON.stringify(ours) !== JSON.stringify(trace.filter((n) => ours.includes(n)))) {
      throw new Error(`Call Stack ${frames.join(' < ')}; the console's trace ${trace.join(' < ')}`);
    }
    gdb = descendants(server.child.pid, /\bgdb(-multiarch)?\b/);
    if (gdb.length < 1) throw new Error('no gdb under the server');
    log(`dump: ${cpuName} paused on the panic, ${ours.length} of the console's ${trace.length} trace functions in order`);
    await shot(page, 'dump-panic');
  }, 540_000);
  if (!opened) {
    for (const n of dumpNames.slice(1)) record(`ui: ${n}`, 'failed', 'the crash dump did not open');
    printDiagnostics(server, browser);
    return;
  }

  await scenario(dumpNames[1], page, async () => {
    await openKernelContainer(page);
    const task = `${panicComm}[${panicPid}]`;
    await until(`CPU ${panicCpu} running ${task}`, async () => {
      const rows = await viewRows(page, 'CPUs');
      const row = rows.find((r) => r.label === `CPU ${panicCpu}`);
      return (row && (row.description === task || row.description.startsWith(`${task} `))) || { ok: false, rows };
    }, 60_000);
    await shot(page, 'dump-cpus');
  });

  await scenario(dumpNames[2], page, async () => {
    const sleeper = truths.tasks.find((t) => t.comm === 'sleep' && t.state === 'S' && t.stack.length >= 3);
    if (!sleeper) throw new Error('truths.json has no sleeping `sleep`');
    const procStack = sleeper.stack.map((l) => /\]\s+([A-Za-z_][\w.]*)\+0x/.exec(l)?.[1]).filter(Boolean);
    await openKernelContainer(page);
    await expandPane(page, 'Tasks');
    const label = `${sleeper.pid} ${sleeper.comm}`;
    const rows = await until(`the Tasks view with ${label}`, async () => {
      // Two passes that agree: rows read while the view was still filling are not taken.
      const all = await allViewRows(page, 'Tasks');
      const again = await allViewRows(page, 'Tasks');
      if (JSON.stringify(all) !== JSON.stringify(again)) return { ok: false, changing: true };
      return (all.some((r) => r.label === label) && all) || { ok: false, all: all.slice(-5) };
    }, 60_000, 1000);
    // Every task the guest listed is a row (threads under their process: compare the processes).
    const shown = new Set(rows.map((r) => r.label.replace(/\[|\]/g, '')));
    const missing = truths.tasks.filter((t) => !shown.has(`${t.pid} ${procComm(t.comm)}`));
    if (missing.length) throw new Error(`tasks the guest listed but the view does not: ${missing.map((t) => `${t.pid} ${t.comm}`).join(', ')}; the view: ${[...shown].join(', ')}`);
    const row = await revealViewRow(page, 'Tasks', label);
    await row.click();
    await showRunView(page);
    const thread = await until(`a Call Stack thread of pid ${sleeper.pid}`, async () => {
      if (!(await loadAllFrames(page))) return { ok: false, loading: true };
      const threads = await callStackThreads(page);
      return threads.find((t) => t.text.includes(`[${sleeper.pid}]`) && t.frames.length >= procStack.length) ?? { ok: false, threads };
    }, 60_000, 500);
    const frames = realFrames(thread.frames);
    if (!stackMatches(frames, procStack)) throw new Error(`pid ${sleeper.pid}: the Call Stack ${frames.join(' < ')}; its /proc stack before the panic ${procStack.join(' < ')}`);
    log(`dump: ${truths.tasks.length} tasks of the guest shown; pid ${sleeper.pid}'s stack = its /proc/PID/stack`);
    await shot(page, 'dump-task-stack');
  }, 180_000);

  await scenario(dumpNames[3], page, async () => {
    await paletteCommand(page, 'Kernel: Show dmesg', { filter: 'Kernel: Show dmesg' });
    await page.locator('.tabs-container .tab.active', { hasText: /Untitled/ }).waitFor({ timeout: 60_000 });
    // The guest's last dmesg line before the dump (one the console did not garble), then the panic.
    const clean = truths.dmesg.filter((l) => (l.match(/\[\s*\d+\.\d{6}\]/g) ?? []).length === 1 && /^\[\s*\d+\.\d{6}\] /.test(l));
    const last = clean[clean.length - 1];
    for (const text of [last, panicLine]) {
      const n = await countInEditor(page, text);
      if (n < 1) throw new Error(`the dmesg editor lacks "${text}"`);
    }
    await shot(page, 'dump-dmesg');
  }, 120_000);

  await scenario(dumpNames[4], page, async () => {
    await focusWorkbench(page);
    await page.keyboard.press('Shift+F5');
    await page.locator('.debug-toolbar').waitFor({ state: 'hidden', timeout: 30_000 });
    await until('gdb gone', () => gdb.every((p) => !alive(p.pid)) || { ok: false }, 15_000);
  });
  if (results.filter((r) => r.status === 'failed').length > failedBefore) printDiagnostics(server, browser);
}
