// b1. UI scenarios that need no kernel: no Kernel views or session commands without a session, a
// crash log opened as a Kernel Log, its frames' hovers and "Go to Kernel Source" against addr2line (oracle.ts).
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { capturedOops, capturedOopsName, log, root } from '../harness/context.mjs';
import { frameToken, kernelActivityItem, paletteRows, quickOpen, scenario, shot } from '../harness/browser.mjs';

const require = createRequire(import.meta.url);
const oracleJs = path.join(root, 'out', 'test', 'vscode', 'suite', 'oracle.js');

/** addr2line at System.map's address (oracle.ts, compiled with the suite), never kdap itself. */
function oopsOracle(manifest) {
  const fx = manifest.arches.x86_64;
  try {
    const oracle = require(oracleJs);
    const text = fs.readFileSync(capturedOops, 'utf8');
    const frame = oracle.findFrame(text, 'proc_reg_write');
    const frameText = text.split('\n')[frame.line].slice(frame.character).split(' ')[0];
    const [target] = oracle.vmlinuxChain(frame, true, { vmlinux: fx.vmlinux, systemMap: fx.systemMap, sourceRoot: manifest.sourceRoot, substitutePath: fx.substitutePath });
    const targetText = `${path.relative(manifest.sourceRoot, target.file)}:${target.line}`;
    log(`ui: oracle for ${frameText}: ${target.fn} at ${targetText}`);
    return { frame, frameText, target, targetText };
  } catch (err) {
    return { problem: `no oracle for the crash-log scenarios: ${err.message}` };
  }
}

export async function staticScenarios(page, manifest) {
  const o = oopsOracle(manifest);

  // The Kernel views and the session commands are only for a kdap session (package.json `when`
  // clauses); live.mjs checks, with the same locators, that a session brings them.
  await scenario('without a kdap session the Kernel view container is not in the activity bar', page, async () => {
    const explorer = page.locator('.activitybar .action-item .action-label[aria-label^="Explorer"]');
    await explorer.waitFor({ state: 'visible', timeout: 10_000 });
    if (await kernelActivityItem(page).isVisible()) throw new Error('the Kernel container shows without a session');
    await shot(page, 'no-session-activity-bar');
  });

  await scenario('without a kdap session the palette offers "Kernel: Decode Oops" but not "Decode Virtual Address…" or "Show dmesg"', page, async () => {
    const rows = await paletteRows(page, 'Kernel: Decode');
    if (!rows.some((r) => r.includes('Kernel: Decode Oops'))) throw new Error(`no "Kernel: Decode Oops" in ${JSON.stringify(rows)}`);
    if (rows.some((r) => r.includes('Decode Virtual Address'))) throw new Error(`"Decode Virtual Address…" offered without a session: ${JSON.stringify(rows)}`);
    const dmesg = await paletteRows(page, 'Kernel: Show dmesg');
    if (dmesg.some((r) => r.includes('Show dmesg'))) throw new Error(`"Show dmesg" offered without a session: ${JSON.stringify(dmesg)}`);
  });

  await scenario('a .oops file opens in language mode "Kernel Log"', page, async () => {
    // A click on the Explorer icon while the Explorer shows would close the side bar.
    if (!(await page.locator('.explorer-folders-view').isVisible())) await page.locator('.activitybar .action-item .action-label[aria-label^="Explorer"]').click();
    await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'crash.oops' }).click();
    await page.locator('.tabs-container .tab', { hasText: 'crash.oops' }).waitFor({ timeout: 10_000 });
    await page.locator('[id="status.editor.mode"]').filter({ hasText: 'Kernel Log' }).waitFor({ timeout: 15_000 });
    await shot(page, 'oops-kernel-log');
  });

  await scenario('hovering a vmlinux frame of a captured Oops shows addr2line\'s source line', page, async () => {
    if (o.problem) throw new Error(o.problem);
    await quickOpen(page, capturedOopsName);
    await page.locator('[id="status.editor.mode"]').filter({ hasText: 'Kernel Log' }).waitFor({ timeout: 15_000 });
    const token = frameToken(page, o.frameText, o.frame.symbol);
    await token.waitFor({ state: 'visible', timeout: 15_000 });
    const hover = page.locator('.monaco-hover', { hasText: o.targetText }).first();
    // The first hovers can come back before llvm-symbolizer has loaded the vmlinux
    // ("No source location"): hover again until the answer names the line.
    const deadline = Date.now() + 70_000;
    for (;;) {
      await token.hover();
      try {
        await hover.waitFor({ state: 'visible', timeout: 8_000 });
        break;
      } catch {
        if (Date.now() > deadline) {
          const seen = await page.locator('.monaco-hover').allInnerTexts().catch(() => []);
          throw new Error(`no hover naming ${o.targetText}; hovers seen: ${JSON.stringify(seen).slice(0, 400)}`);
        }
      }
      await page.mouse.move(700, 820);
      await page.keyboard.press('Escape');
    }
    await shot(page, 'oops-hover');
  }, 90_000);

  await scenario('right-click on that frame → "Go to Kernel Source" opens addr2line\'s source line', page, async () => {
    if (o.problem) throw new Error(o.problem);
    await page.keyboard.press('Escape');
    const token = frameToken(page, o.frameText, o.frame.symbol);
    const menu = page.locator('.context-view .monaco-menu').first();
    const item = page.locator('.context-view .action-item', { hasText: 'Go to Kernel Source' }).first();
    const tab = page.locator('.tabs-container .tab.active', { hasText: path.basename(o.target.file) });
    for (let attempt = 1; ; attempt++) {
      await token.click({ button: 'right' });
      await item.waitFor({ state: 'visible', timeout: 10_000 });
      await item.click();
      // A click that lands while the menu is still settling is dropped (two of the first
      // four runs here); the item under the mouse is focused then, and Enter runs it.
      const closed = await menu.waitFor({ state: 'hidden', timeout: 3_000 }).then(() => true, () => false);
      if (!closed) {
        log(`ui: the context-menu click was dropped (try ${attempt}); pressing Enter on the focused item`);
        await page.keyboard.press('Enter');
      }
      if (await tab.waitFor({ timeout: 20_000 }).then(() => true, () => false)) break;
      if (attempt === 3) throw new Error(`no ${path.basename(o.target.file)} tab after ${attempt} tries of the context menu`);
      await page.keyboard.press('Escape');
    }
    const selection = page.locator('[id="status.editor.selection"]');
    try {
      await selection.filter({ hasText: new RegExp(`\\bLn ${o.target.line},`) }).waitFor({ timeout: 15_000 });
    } catch {
      throw new Error(`status bar shows "${await selection.innerText().catch(() => '?')}", want Ln ${o.target.line}`);
    }
    await shot(page, 'oops-goto-source');
  }, 100_000);
}
