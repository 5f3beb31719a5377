// b3. An untrusted folder (Restricted Mode) holding a kdap launch configuration: F5 only shows
// the Run view, and "Debug: Start Debugging" asks for trust first (VS Code's debug service, before
// any extension is asked); declined, nothing is started: no adapter, QEMU or gdb. kdap's own
// refusal in an untrusted workspace is checked on its resolver (suite/debug.test.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { copyWorkspace, sleep } from '../harness/context.mjs';
import { launchBrowser, openFolder, scenario, shot, until } from '../harness/browser.mjs';
import { descendants } from '../harness/oracles.mjs';
import { installVsix, startServer } from '../harness/server.mjs';

export async function untrustedScenario(launch) {
  const server = await startServer('untrusted', { trust: true, smokeTestDriver: false });
  installVsix(server);
  const ws = copyWorkspace('untrusted-workspace');
  fs.mkdirSync(path.join(ws, '.vscode'), { recursive: true });
  fs.writeFileSync(path.join(ws, '.vscode', 'launch.json'), JSON.stringify({ version: '0.2.0', configurations: [launch] }, null, 2));
  const { page } = await launchBrowser('untrusted');
  await openFolder(page, server, ws);
  const started = () => descendants(server.child.pid, /qemu-system|\bgdb(-multiarch)?\b|dist\/adapter\.js/);
  await scenario('in an untrusted folder F5 and "Debug: Start Debugging" are refused in the UI and start no adapter, QEMU or gdb', page, async () => {
    await page.locator('.statusbar-item', { hasText: 'Restricted Mode' }).first().waitFor({ timeout: 30_000 });
    // F5 in Restricted Mode only shows the Run view.
    await page.locator('.monaco-workbench').click({ position: { x: 700, y: 400 } }).catch(() => {});
    await page.keyboard.press('F5');
    await sleep(3000);
    // The command asks for trust first (VS Code's debug service), in a modal dialog.
    await page.locator('.monaco-workbench').click({ position: { x: 700, y: 400 } }).catch(() => {});
    await page.keyboard.press('Control+Shift+P');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill('>Debug: Start Debugging');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Debug: Start Debugging' }).first().click();
    const dialog = page.locator('.monaco-dialog-box').first();
    await dialog.waitFor({ state: 'visible', timeout: 30_000 });
    const text = await dialog.innerText();
    if (!/trust the authors/.test(text) || !/Debugging executes/.test(text)) throw new Error(`the dialog says: ${text}`);
    await shot(page, 'untrusted-start-debugging-asks');
    const cancel = dialog.locator('.monaco-button', { hasText: /^Cancel$/ }).first();
    if (!(await cancel.isVisible())) throw new Error(`no Cancel in ${JSON.stringify(await dialog.locator('.monaco-button').allInnerTexts())}`);
    await cancel.click();
    await dialog.waitFor({ state: 'hidden', timeout: 10_000 });
    // Anything the launch would have started has had time to show up.
    await sleep(5000);
    if (await page.locator('.debug-toolbar').isVisible()) throw new Error('a debug session started');
    const procs = started();
    if (procs.length) throw new Error(`started: ${JSON.stringify(procs)}`);
    await until('still Restricted Mode', () => page.locator('.statusbar-item', { hasText: 'Restricted Mode' }).first().isVisible(), 5_000);
    await shot(page, 'untrusted-refused');
  }, 90_000);
}
