// Reading the views a stopped session fills: a whole tree view (scrolled through, since the
// list draws only the rows in sight), the Call Stack of one thread, and text found in an editor.
import { focusWorkbench, until, viewPane } from './browser.mjs';
import { sleep } from './context.mjs';

/** Opens a collapsed pane of the sidebar (the Tasks view starts collapsed). */
export async function expandPane(page, title) {
  const header = page.locator('.sidebar .pane-header', { hasText: title }).first();
  await header.waitFor({ state: 'visible', timeout: 10_000 });
  if ((await header.getAttribute('aria-expanded')) !== 'true') await header.click();
  await page.waitForFunction((t) => [...document.querySelectorAll('.sidebar .pane-header')].some((h) => h.textContent?.includes(t) && h.getAttribute('aria-expanded') === 'true'), title, { timeout: 10_000 });
}

/** The first row of `title`'s view holding `text`, scrolled into sight (rows out of sight are not drawn). */
export async function revealViewRow(page, title, text) {
  const row = viewPane(page, title).locator('.monaco-list-row', { hasText: text }).first();
  await until(`the row "${text}" drawn`, async () => {
    if (await row.isVisible()) return true;
    const box = await viewPane(page, title).locator('.pane-body').first().boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + 40);
    await page.mouse.wheel(0, 200);
    return false;
  }, 30_000, 200);
  return row;
}

/**
 * Every row of a tree view, by the list's own index (data-index): the pane is scrolled from top
 * to bottom with the mouse wheel until no new row comes.
 */
export async function allViewRows(page, title) {
  const pane = viewPane(page, title);
  const body = pane.locator('.pane-body').first();
  const box = await body.boundingBox();
  if (!box) throw new Error(`the ${title} view is not shown`);
  await page.mouse.move(box.x + box.width / 2, box.y + Math.min(box.height / 2, 100));
  for (let i = 0; i < 40; i++) await page.mouse.wheel(0, -2000);
  const seen = new Map();
  for (let quiet = 0; quiet < 3; ) {
    await sleep(150);
    const rows = await pane.locator('.pane-body .monaco-list-row').evaluateAll((els) =>
      els.map((el) => ({
        index: Number(el.getAttribute('data-index')),
        label: el.querySelector('.label-name')?.textContent?.trim() ?? '',
        description: el.querySelector('.label-description')?.textContent?.trim() ?? '',
        level: Number(el.getAttribute('aria-level') ?? 0),
      })),
    );
    const before = seen.size;
    for (const r of rows) seen.set(r.index, r);
    quiet = seen.size === before ? quiet + 1 : 0;
    await page.mouse.wheel(0, Math.max(100, box.height - 60));
  }
  return [...seen.values()].sort((a, b) => a.index - b.index);
}

/** Shows the Run and Debug container (the Call Stack view). */
export async function showRunView(page) {
  const callStack = page.locator('.debug-call-stack');
  if (await callStack.isVisible()) return;
  // The palette's row can sit under a tree's hover: the key binding reaches the view directly.
  await focusWorkbench(page);
  await page.keyboard.press('Control+Shift+D');
  await callStack.waitFor({ state: 'visible', timeout: 10_000 });
}

/**
 * Asks the Call Stack for every frame: VS Code shows a thread's first frames and a "Load More
 * Stack Frames" row. True once no such row is left.
 */
export async function loadAllFrames(page) {
  const more = page.locator('.debug-call-stack .monaco-list-row', { hasText: /Load (More|All) Stack Frames/i }).first();
  if (!(await more.isVisible())) return true;
  await more.click();
  return false;
}

/**
 * The Call Stack view as it is drawn: each thread row (its text, with the stop reason VS Code
 * prints beside it) and the frame names under it, in order.
 */
export async function callStackThreads(page) {
  // The list draws only the rows in sight: scroll it through, keeping rows by their index.
  const list = page.locator('.debug-call-stack .monaco-list').first();
  const box = await list.boundingBox();
  const rows = new Map();
  const read = () =>
    page.locator('.debug-call-stack .monaco-list-row').evaluateAll((els) =>
      els.map((el) => {
        const thread = el.querySelector('.thread');
        const frame = el.querySelector('.stack-frame .label, .stack-frame .expression');
        return { index: Number(el.getAttribute('data-index')), thread: thread ? (thread.textContent?.replace(/\s+/g, ' ').trim() ?? '') : null, frame: frame ? (frame.textContent?.trim() ?? '') : null };
      }),
    );
  if (box) {
    await page.mouse.move(box.x + box.width / 2, box.y + Math.min(20, box.height / 2));
    for (let i = 0; i < 20; i++) await page.mouse.wheel(0, -2000);
  }
  for (let quiet = 0; quiet < 3; ) {
    await sleep(120);
    const before = rows.size;
    for (const r of await read()) rows.set(r.index, r);
    quiet = rows.size === before ? quiet + 1 : 0;
    if (!box) break;
    await page.mouse.wheel(0, Math.max(60, box.height - 40));
  }
  const threads = [];
  for (const r of [...rows.values()].sort((x, y) => x.index - y.index)) {
    if (r.thread !== null) threads.push({ text: r.thread, frames: [] });
    else if (r.frame !== null && threads.length) threads[threads.length - 1].frames.push(r.frame);
  }
  return threads;
}

/**
 * The frame names the kernel's own stack dump would list for `names` (a Call Stack): no
 * inlined or tail-call frames.
 */
export const realFrames = (names) => names.filter((n) => !/\[(inlined|tail call)\]$/.test(n)).map((n) => n.replace(/\s.*$/, ''));

/**
 * Whether `expected` (the guest's /proc/PID/stack, innermost first) is the run of `frames`
 * below the scheduler's frames, which /proc leaves out: its first function within the top
 * `slack` frames and every following one next in line.
 */
export function stackMatches(frames, expected, slack = 6) {
  const at = frames.indexOf(expected[0]);
  if (at < 0 || at >= slack) return false;
  // kallsyms names an address after the nearest label, such as an entry routine's inner
  // entry_SYSCALL_64_after_hwframe; gdb after the function it is in (entry_SYSCALL_64).
  return expected.every((f, i) => frames[at + i] === f || (frames[at + i] !== undefined && f.startsWith(`${frames[at + i]}_`)));
}

/** The function names of /proc/PID/stack lines (`[<0>] do_wait+0x160/0x2f0`). */
export function procStackNames(text) {
  return text
    .split('\n')
    .map((l) => /\]\s+([A-Za-z_][\w.]*)\+0x/.exec(l)?.[1])
    .filter(Boolean);
}

/** How many times the active editor holds `text` (VS Code's Find widget counts it). */
export async function countInEditor(page, text) {
  await page.locator('.editor-instance .monaco-editor').first().click({ position: { x: 200, y: 100 } });
  await page.keyboard.press('Control+F');
  const input = page.locator('.editor-instance .find-widget textarea, .editor-instance .find-widget input').first();
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill(text);
  const count = page.locator('.editor-instance .find-widget .matchesCount').first();
  let said = '';
  for (let i = 0; i < 20; i++) {
    await sleep(200);
    said = (await count.innerText()).trim();
    if (/No results|of \d+/.test(said)) break;
  }
  await page.keyboard.press('Escape');
  if (/No results/.test(said)) return 0;
  const m = /of (\d+)/.exec(said);
  if (!m) throw new Error(`the Find widget says "${said}" for ${text}`);
  return Number(m[1]);
}

/**
 * The comm a task's /proc/PID/stat shows, as task_struct.comm holds it: proc prints a kernel
 * thread's full name (past the 15 characters comm keeps) and a workqueue worker's current
 * workqueue after a dash (proc_task_name()).
 */
export function procComm(name) {
  return (name.startsWith('kworker/') ? name.replace(/-.*$/, '') : name).slice(0, 15);
}
