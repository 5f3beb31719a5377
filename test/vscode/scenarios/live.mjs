// b2. A live session through the installed vsix: the x86_64 fixture kernel under QEMU, F5 in the
// UI. Each scenario checks what the window shows against an answer from outside kdap:
//   - the stop line: gdb alone (`info line start_kernel`) and the source file's own text;
//   - the CPUs view: the guest's /proc (cpuinfo, the busy task's pid and its CPU in /proc/PID/stat);
//   - the Modules view: the guest's /proc/modules and /sys/module/kdap_test/sections;
//   - a pointer hover and the Page Walk view of a typed System.map address: QEMU's own `gva2gpa`,
//     asked on a monitor socket of QEMU's that neither kdap nor its gdb knows about;
//   - the Kernel views and session commands: shown while the session is stopped, gone after it;
//   - Shift+F5: the process table (QEMU and gdb gone).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { log, record } from '../harness/context.mjs';
import { focusWorkbench, kernelActivityItem, openKernelContainer, paletteCommand, paletteRows, quickOpen, scenario, shot, until, viewPane, viewRows } from '../harness/browser.mjs';
import { alive, descendants, gdbInfoLine, QemuMonitor, systemMapAddress } from '../harness/oracles.mjs';
import { focusTerminal, guestRun, screenText } from '../harness/terminal.mjs';
import { tasksScenarios } from './live-tasks.mjs';

export const hoverFile = 'walk-hover.c';
/** Written into the workspace: hovering `pgd` of init_mm.pgd asks kdap for that pointer. */
export const hoverSource = '/* A pointer to hover while a kdap session is stopped. */\npgd_t *pgd = init_mm.pgd;\n';

/** The launch configuration F5 runs: the fixture kernel, plus a QEMU monitor for the oracle. */
export function launchConfiguration(manifest, monitorSocket) {
  const fx = manifest.arches.x86_64;
  return {
    type: 'kdap',
    request: 'launch',
    name: 'QEMU x86_64',
    kernel: fx.kernel,
    vmlinux: fx.vmlinux,
    initrd: fx.initrd,
    append: fx.append,
    smp: 2,
    memory: '512M',
    stopAt: 'start_kernel',
    sourceRoot: manifest.sourceRoot,
    substitutePath: fx.substitutePath,
    modulePaths: [path.dirname(fx.kmod.ko)],
    qemuArgs: ['-monitor', `unix:${monitorSocket},server=on,wait=off`],
  };
}

const toolbar = (page, action) => page.locator(`.debug-toolbar .action-label[aria-label^="${action}"]`).first();

/** Stops the kernel (if it runs) and shows the Kernel views. */
async function pause(page) {
  if (await toolbar(page, 'Pause').isVisible()) await toolbar(page, 'Pause').click();
  await toolbar(page, 'Continue').waitFor({ state: 'visible', timeout: 60_000 });
  // VS Code opens the Run view on a break; let it, then show the Kernel views.
  await page.waitForTimeout(1000);
  await openKernelContainer(page);
}

/** Lets the kernel run (if it is stopped): the guest's shell answers only then. */
async function resume(page) {
  if (await toolbar(page, 'Continue').isVisible()) await toolbar(page, 'Continue').click();
  await toolbar(page, 'Pause').waitFor({ state: 'visible', timeout: 30_000 });
}

const hex = (v) => `0x${v.toString(16)}`;
/** A CPU row's description starts with its current task, `comm[pid]`. */
const runs = (row, task) => row.description === task || row.description.startsWith(`${task} `);

export async function liveScenarios({ page, server, manifest, monitorSocket }) {
  const fx = manifest.arches.x86_64;
  const monitor = new QemuMonitor(monitorSocket);
  const names = [
    'F5 on "QEMU x86_64" stops at start_kernel, on the line gdb gives it, with its source',
    'while the session is stopped the Kernel container shows CPUs, Modules and Page Walk, and the palette offers "Decode Virtual Address…" and "Show dmesg"',
    'the guest console terminal shows the boot and runs what is typed into it',
    'the CPUs view: as many rows as the guest\'s /proc/cpuinfo, the busy task on the CPU /proc/PID/stat names',
    'the Modules view after insmod: the base of /proc/modules and every section at its /sys/module address',
    'a pointer hover in a C file: its physical address is QEMU\'s gva2gpa of the pointer',
    'Decode Virtual Address… of a typed address: the Page Walk view ends where QEMU\'s gva2gpa does',
    'Shift+F5 ends the session: the QEMU and gdb it started are gone',
    'after the session the Kernel container and "Decode Virtual Address…" are gone again',
  ];
  let session; // the QEMU and gdb processes F5 started
  let cpus;

  const f5 = await scenario(names[0], page, async () => {
    const truth = gdbInfoLine(fx.vmlinux, 'start_kernel');
    const text = fs.readFileSync(path.join(manifest.sourceRoot, truth.file.replace(/^.*?init\//, 'init/')), 'utf8').split('\n')[truth.line - 1];
    await page.locator('.monaco-workbench').click({ position: { x: 700, y: 400 } }).catch(() => {});
    await page.keyboard.press('F5');
    await page.locator('.debug-toolbar').waitFor({ state: 'visible', timeout: 60_000 });
    await page.locator('.tabs-container .tab.active', { hasText: 'main.c' }).waitFor({ timeout: 120_000 });
    const stopped = page.locator('.editor-instance .view-overlays .debug-top-stack-frame-line').first();
    await stopped.waitFor({ timeout: 30_000 });
    const selection = page.locator('[id="status.editor.selection"]');
    await until(`the cursor on line ${truth.line} (gdb: ${truth.file}:${truth.line})`, async () => {
      const s = await selection.innerText();
      return new RegExp(`\\bLn ${truth.line},`).test(s) || { ok: false, s };
    }, 15_000);
    // The decorated line is that line of the file: compare the text the editor shows there.
    const shown = await page.evaluate(() => {
      const overlay = document.querySelector('.editor-instance .view-overlays .debug-top-stack-frame-line')?.parentElement;
      const top = overlay?.style.top;
      const line = [...document.querySelectorAll('.editor-instance .view-lines .view-line')].find((l) => l.style.top === top);
      return line?.textContent ?? null;
    });
    if (shown === null || shown.replace(/\u00a0/g, ' ').trim() !== text.trim()) throw new Error(`the stopped line shows "${shown}", line ${truth.line} of the file is "${text}"`);
    session = { qemu: descendants(server.child.pid, /qemu-system-x86_64/), gdb: descendants(server.child.pid, /\bgdb(-multiarch)?\b/) };
    if (session.qemu.length !== 1 || session.gdb.length < 1) throw new Error(`processes under the server: QEMU ${JSON.stringify(session.qemu)}, gdb ${JSON.stringify(session.gdb)}`);
    await shot(page, 'f5-start-kernel');
  }, 240_000);
  if (!f5) {
    for (const n of names.slice(1)) record(`ui: ${n}`, 'failed', 'no live session: F5 failed');
    return;
  }

  await scenario(names[1], page, async () => {
    await kernelActivityItem(page).waitFor({ state: 'visible', timeout: 20_000 });
    await openKernelContainer(page);
    for (const view of ['CPUs', 'Modules', 'Page Walk']) {
      await page.locator('.sidebar .pane-header', { hasText: view }).waitFor({ state: 'visible', timeout: 10_000 });
    }
    await shot(page, 'kernel-views');
    const decode = await paletteRows(page, 'Kernel: Decode Virtual');
    if (!decode.some((r) => r.includes('Kernel: Decode Virtual Address…'))) throw new Error(`no "Decode Virtual Address…" in ${JSON.stringify(decode)}`);
    const dmesg = await paletteRows(page, 'Kernel: Show dmesg');
    if (!dmesg.some((r) => r.includes('Kernel: Show dmesg'))) throw new Error(`no "Show dmesg" in ${JSON.stringify(dmesg)}`);
  });

  await scenario(names[2], page, async () => {
    await toolbar(page, 'Continue').click();
    const rows = page.locator('.terminal-wrapper .xterm-rows');
    await rows.filter({ hasText: manifest.guest.prompt.trim() }).first().waitFor({ timeout: 180_000 });
    // The guest's shell computes the answer: only typed input reaching it can make it appear.
    await focusTerminal(page);
    await page.keyboard.type('echo kdap-$((6*7))');
    await page.keyboard.press('Enter');
    await rows.filter({ hasText: 'kdap-42' }).first().waitFor({ timeout: 30_000 });
    await shot(page, 'serial-terminal');
  }, 240_000);

  await scenario(names[3], page, async () => {
    await resume(page);
    cpus = Number(await guestRun(page, 'grep -c ^processor /proc/cpuinfo'));
    if (!(cpus >= 1)) throw new Error(`the guest counts ${cpus} CPUs`);
    // One task that keeps a CPU busy, pinned to the last CPU so that it cannot move between the
    // pause and the guest's answer: it is that CPU's current task whenever the kernel stops.
    // An interactive shell also prints "[1] PID" for the job: the pid is the last line.
    const mask = (1 << (cpus - 1)).toString(16);
    const pid = Number(/(\d+)\s*$/.exec(await guestRun(page, `taskset ${mask} sh -c 'while :; do :; done' & echo $!`))?.[1]);
    if (!(pid > 1)) throw new Error('no pid for the busy task');
    try {
      await pause(page);
      const busy = `sh[${pid}]`;
      await until(`${cpus} CPU rows, one running ${busy}`, async () => {
        const r = (await viewRows(page, 'CPUs')).filter((x) => /^CPU \d+$/.test(x.label));
        return (r.length === cpus && r.some((x) => runs(x, busy))) || { ok: false, r };
      });
      const shown = (await viewRows(page, 'CPUs')).filter((x) => /^CPU \d+$/.test(x.label));
      await shot(page, 'cpus-view');
      await resume(page);
      // The guest's own word on where the task ran: field 39 of /proc/PID/stat.
      const cpu = Number((await guestRun(page, `cut -d' ' -f39 /proc/${pid}/stat`)).trim());
      if (cpu !== cpus - 1) throw new Error(`the guest runs ${busy} on CPU ${cpu}, not on the CPU it is pinned to (${cpus - 1})`);
      const row = shown.find((x) => x.label === `CPU ${cpu}`);
      if (!row || !runs(row, busy)) throw new Error(`the guest runs ${busy} on CPU ${cpu}; the view: ${JSON.stringify(shown)}`);
    } finally {
      await resume(page).catch(() => undefined);
      await guestRun(page, `kill ${pid}`).catch(() => undefined);
    }
  }, 180_000);

  await scenario(names[4], page, async () => {
    await resume(page);
    const proc = await guestRun(page, `insmod ${fx.kmod.guestPath}; grep '^kdap_test ' /proc/modules`);
    const base = /Live (0x[0-9a-f]+)/.exec(proc)?.[1];
    if (!base) throw new Error(`/proc/modules: ${proc}`);
    const sysfs = new Map();
    const listing = await guestRun(page, 'cd /sys/module/kdap_test/sections && for f in .* *; do [ -f "$f" ] && echo "$f=$(cat "$f")"; done | xargs -n 3; cd /');
    for (const tok of listing.split(/\s+/)) {
      const m = /^(\S+)=(0x[0-9a-f]+)$/.exec(tok);
      if (m) sysfs.set(m[1], BigInt(m[2]));
    }
    if (!sysfs.has('.text')) throw new Error(`sysfs sections: ${listing}`);
    await pause(page);
    const pane = viewPane(page, 'Modules');
    const row = pane.locator('.monaco-list-row', { hasText: 'kdap_test' }).first();
    await row.waitFor({ timeout: 30_000 });
    if ((await row.getAttribute('aria-expanded')) !== 'true') await row.click();
    const shown = await until('the kdap_test row expanded with its sections', async () => {
      const rows = await viewRows(page, 'Modules');
      const at = rows.findIndex((r) => r.label === 'kdap_test');
      const children = [];
      for (let i = at + 1; at >= 0 && i < rows.length && rows[i].level > rows[at].level; i++) children.push(rows[i]);
      return (children.some((c) => c.label === '.text') && { top: rows[at], children }) || { ok: false, rows };
    });
    if (!shown.top.description.startsWith(`${base} `)) throw new Error(`kdap_test row "${shown.top.description}", /proc/modules base ${base}`);
    const symbols = shown.children.find((c) => c.label === 'symbols');
    if (!symbols?.description.endsWith('kdap_test.ko')) throw new Error(`symbols row: ${JSON.stringify(symbols)}`);
    const sections = shown.children.filter((c) => c.label !== 'symbols');
    const wrong = sections.filter((c) => !sysfs.has(c.label) || BigInt(c.description) !== sysfs.get(c.label));
    if (wrong.length) throw new Error(`sections unlike /sys/module/kdap_test/sections: ${JSON.stringify(wrong)}; sysfs: ${listing}`);
    if (sections.length < 3) throw new Error(`only ${sections.length} sections shown`);
    log(`ui: ${sections.length} sections of kdap_test equal sysfs`);
    await shot(page, 'modules-view');
  }, 180_000);

  await scenario(names[5], page, async () => {
    await pause(page);
    await quickOpen(page, hoverFile);
    // Where the member `pgd` of init_mm.pgd is drawn (the C grammar puts `init_mm.pgd;` in one
    // token): the rectangle of those three characters in the editor's text.
    const spot = async () =>
      page.evaluate(() => {
        for (const span of document.querySelectorAll('.editor-instance .view-line span > span')) {
          const text = span.firstChild;
          const at = text?.textContent?.indexOf('init_mm.pgd') ?? -1;
          if (!text || at < 0) continue;
          const range = document.createRange();
          range.setStart(text, at + 'init_mm.'.length);
          range.setEnd(text, at + 'init_mm.pgd'.length);
          const r = range.getBoundingClientRect();
          return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
        }
        return null;
      });
    await until('init_mm.pgd in the editor', spot, 15_000);
    const hover = page.locator('.monaco-hover', { hasText: '→ phys' }).first();
    const text = await until('a hover with the walk of init_mm.pgd', async () => {
      const at = await spot();
      // Away first: a hover comes on a move onto the token.
      await page.mouse.move(at.x, at.y + 60);
      await page.mouse.move(at.x, at.y, { steps: 3 });
      await hover.waitFor({ state: 'visible', timeout: 5_000 });
      return hover.innerText();
    }, 60_000, 500);
    const m = /init_mm\.pgd = .*?(0x[0-9a-f]+).*→ phys (0x[0-9a-f]+)/s.exec(text);
    if (!m) throw new Error(`hover: ${text}`);
    const [va, phys] = [BigInt(m[1]), BigInt(m[2])];
    const gpa = await monitor.gva2gpa(va);
    if (gpa !== phys) throw new Error(`hover says ${hex(va)} → ${hex(phys)}; QEMU's gva2gpa: ${typeof gpa === 'bigint' ? hex(gpa) : gpa}`);
    log(`ui: hover ${hex(va)} → ${hex(phys)} = gva2gpa`);
    await shot(page, 'pte-hover');
    await page.keyboard.press('Escape');
  }, 120_000);

  await scenario(names[6], page, async () => {
    await pause(page);
    const va = systemMapAddress(fx.systemMap, 'jiffies_64');
    const input = page.locator('.quick-input-widget input');
    await paletteCommand(page, 'Kernel: Decode Virtual Address…', { filter: 'Decode Virtual' });
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill(hex(va));
    await page.keyboard.press('Enter');
    await openKernelContainer(page);
    const root = await until(`the Page Walk view showing ${hex(va)}`, async () => {
      const rows = await viewRows(page, 'Page Walk');
      return rows.find((r) => r.label.startsWith(`${hex(va)} → `)) ?? { ok: false, rows };
    });
    const phys = /→ (0x[0-9a-f]+)/.exec(root.label)?.[1];
    if (!phys) throw new Error(`Page Walk: ${root.label}`);
    const gpa = await monitor.gva2gpa(va);
    if (gpa !== BigInt(phys)) throw new Error(`Page Walk says ${hex(va)} → ${phys}; QEMU's gva2gpa: ${typeof gpa === 'bigint' ? hex(gpa) : gpa}`);
    const levels = (await viewRows(page, 'Page Walk')).filter((r) => r.level > root.level);
    if (levels.length < 3) throw new Error(`${levels.length} levels shown: ${JSON.stringify(levels)}`);
    log(`ui: Page Walk ${hex(va)} → ${phys} over ${levels.length} levels = gva2gpa`);
    await shot(page, 'page-walk');
  }, 90_000);

  // After the hover and walk scenarios; the last of them pauses after a Continue from a task's thread.
  await tasksScenarios({ page, pause, resume });

  await scenario(names[7], page, async () => {
    await focusWorkbench(page);
    await page.keyboard.press('Shift+F5');
    await page.locator('.debug-toolbar').waitFor({ state: 'hidden', timeout: 30_000 });
    const started = [...session.qemu, ...session.gdb];
    await until('QEMU and gdb gone', () => {
      const left = started.filter((p) => alive(p.pid));
      return left.length === 0 || { ok: false, left: left.map((p) => `${p.pid} ${p.args.slice(0, 60)}`) };
    }, 15_000);
    const stray = descendants(server.child.pid, /qemu-system|\bgdb(-multiarch)?\b/);
    if (stray.length) throw new Error(`still under the server: ${JSON.stringify(stray)}`);
  }, 60_000);

  await scenario(names[8], page, async () => {
    await kernelActivityItem(page).waitFor({ state: 'hidden', timeout: 20_000 });
    const rows = await paletteRows(page, 'Kernel: Decode');
    if (!rows.some((r) => r.includes('Kernel: Decode Oops'))) throw new Error(`no "Kernel: Decode Oops" in ${JSON.stringify(rows)}`);
    if (rows.some((r) => r.includes('Decode Virtual Address'))) throw new Error(`"Decode Virtual Address…" still offered: ${JSON.stringify(rows)}`);
  });

  // What the console showed, for a failing run's reader.
  log(`ui: terminal at the end:\n${(await screenText(page).catch(() => '')).trimEnd().split('\n').slice(-6).join('\n')}`);
}
