// Headless Chromium on a workbench, and the few moves a user makes: the command palette, Quick
// Open, the Kernel view container, tree rows, screenshots.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { chromiumPath, cleanups, log, record, shots, sleep, tmp, verbose, withTimeout } from './context.mjs';

const require = createRequire(import.meta.url);

export async function launchBrowser(name) {
  const { chromium } = require('playwright-core');
  const context = await withTimeout(
    'chromium launch',
    chromium.launchPersistentContext(path.join(tmp, name, 'chromium'), {
      executablePath: chromiumPath,
      headless: true,
      viewport: { width: 1400, height: 860 },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-dev-shm-usage',
      ],
    }),
    30_000,
  );
  cleanups.push(async () => {
    await withTimeout('chromium close', context.close(), 10_000).catch(() => {});
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleLog = path.join(tmp, name, 'browser-console.log');
  page.on('console', (m) => {
    fs.appendFileSync(consoleLog, `[${m.type()}] ${m.text()}\n`);
    if (verbose) console.log(`[browser] ${m.text()}`);
  });
  page.on('pageerror', (e) => fs.appendFileSync(consoleLog, `[pageerror] ${e.message}\n`));
  return { context, page, consoleLog };
}

/** Opens `folder` in the workbench and waits for the explorer to list it. */
export async function openFolder(page, server, folder) {
  await page.goto(`${server.url}/?folder=${encodeURIComponent(folder)}`, { waitUntil: 'domcontentloaded', timeout: 30_000 });
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 30_000 });
  await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ state: 'visible', timeout: 30_000 });
}

/** Runs `fn` as one UI scenario: passed, or failed with a screenshot of the moment. */
export async function scenario(name, page, fn, timeoutMs = 60_000) {
  const t0 = Date.now();
  try {
    await withTimeout(name, fn(), timeoutMs);
    record(`ui: ${name}`, 'passed');
    return true;
  } catch (err) {
    record(`ui: ${name}`, 'failed', err.message.split('\n').slice(0, 6).join('\n'));
    const file = path.join(shots, `failed-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase().slice(0, 80)}.png`);
    await page.screenshot({ path: file }).catch(() => {});
    log(`screenshot of the failure: ${file}`);
    return false;
  } finally {
    if (verbose) log(`${name}: ${Date.now() - t0} ms`);
  }
}

export async function shot(page, name) {
  await sleep(600); // notifications and tree rows fade in
  await page.screenshot({ path: path.join(shots, `${name}.png`) });
}

export async function closeQuickInput(page) {
  if (await page.locator('.quick-input-widget').isVisible()) await page.keyboard.press('Escape');
}

/**
 * Gives the workbench the keyboard without side effects: a click on the sidebar's title (the top
 * strip of the window holds the command center, whose click opens Quick Open).
 */
export async function focusWorkbench(page) {
  const title = page.locator('.sidebar .composite.title').first();
  if (await title.isVisible()) await title.click({ position: { x: 5, y: 5 } }).catch(() => {});
  else await page.locator('.part.editor').first().click({ position: { x: 60, y: 200 } }).catch(() => {});
}

/** Opens the quick input with `keys` (the palette or Quick Open) and types `text` into it. */
async function quickInput(page, keys, text) {
  await closeQuickInput(page);
  await focusWorkbench(page);
  await page.keyboard.press(keys);
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill(text);
}

/** Runs a command through the command palette by clicking its row. */
export async function paletteCommand(page, title, { filter = title, keepOpen = false } = {}) {
  await quickInput(page, 'Control+Shift+P', `>${filter}`);
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  await row.waitFor({ state: 'visible', timeout: 10_000 });
  if (keepOpen) return row;
  await row.click();
  return row;
}

/**
 * The rows the command palette lists for `filter`, once they stop changing (it lists fuzzy
 * matches too, so the rows are read, not waited for); the palette is closed again.
 */
export async function paletteRows(page, filter) {
  await quickInput(page, 'Control+Shift+P', `>${filter}`);
  const rows = page.locator('.quick-input-list .monaco-list-row');
  let seen;
  for (let stable = 0, start = Date.now(); stable < 4; ) {
    if (Date.now() - start > 15_000) throw new Error(`the palette's rows for "${filter}" kept changing: ${JSON.stringify(seen)}`);
    await sleep(300);
    const now = (await rows.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
    stable = JSON.stringify(now) === JSON.stringify(seen) ? stable + 1 : 0;
    seen = now;
  }
  await page.keyboard.press('Escape');
  return seen;
}

/** kdap's "Kernel" view container in the activity bar (VS Code hides it while no view of it may show). */
export function kernelActivityItem(page) {
  return page.locator('.activitybar .action-item .action-label[aria-label^="Kernel"]');
}

export async function openKernelContainer(page) {
  const item = kernelActivityItem(page);
  await item.waitFor({ state: 'visible', timeout: 20_000 });
  const sidebarTitle = page.locator('.sidebar .composite.title', { hasText: /kernel/i });
  const header = page.locator('.sidebar .pane-header', { hasText: 'CPUs' });
  // VS Code opens the Run view on a debug stop, which can come just after a click here.
  for (let attempt = 1; ; attempt++) {
    if (!(await sidebarTitle.isVisible())) await item.click();
    if (await header.waitFor({ state: 'visible', timeout: 5_000 }).then(() => true, () => false)) {
      await sleep(300);
      if (await header.isVisible()) return;
    }
    if (attempt === 3) break;
  }
  await paletteCommand(page, 'Focus on CPUs View', { filter: 'Focus on CPUs View' });
  await header.waitFor({ state: 'visible', timeout: 10_000 });
}

/** Opens a workspace file through Quick Open (the explorer click would toggle a visible sidebar). */
export async function quickOpen(page, name) {
  await quickInput(page, 'Control+P', name);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().waitFor({ state: 'visible', timeout: 15_000 });
  await page.keyboard.press('Enter');
  await page.locator('.tabs-container .tab.active', { hasText: name }).waitFor({ timeout: 15_000 });
}

/** The editor token of a frame's symbol (the grammar gives the symbol a token of its own). */
export function frameToken(page, frameText, symbol) {
  const line = page.locator('.editor-instance .view-line', { hasText: frameText }).first();
  return line.locator('span > span').filter({ hasText: new RegExp(`^\\s*${symbol}\\s*$`) }).first();
}

/** The pane of a view in the sidebar, by its header text. */
export function viewPane(page, title) {
  return page.locator('.sidebar .pane', { has: page.locator('.pane-header', { hasText: title }) }).first();
}

/** The rows a tree view shows now: label, description and depth (aria-level). */
export async function viewRows(page, title) {
  const rows = viewPane(page, title).locator('.pane-body .monaco-list-row');
  return rows.evaluateAll((els) =>
    els.map((el) => ({
      label: el.querySelector('.label-name')?.textContent?.trim() ?? '',
      description: el.querySelector('.label-description')?.textContent?.trim() ?? '',
      level: Number(el.getAttribute('aria-level') ?? 0),
      expanded: el.getAttribute('aria-expanded'),
    })),
  );
}

/** Polls `probe` until it returns a truthy value, or throws with the last thing it saw. */
export async function until(what, probe, timeoutMs = 30_000, everyMs = 250) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last && (typeof last !== 'object' || last.ok !== false)) return last;
    } catch (err) {
      last = err.message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s (last: ${JSON.stringify(last)?.slice(0, 600)})`);
    await sleep(everyMs);
  }
}
