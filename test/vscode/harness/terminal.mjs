// The guest's own shell, typed into kdap's "Kernel console" terminal and read off the screen:
// what the guest prints about itself (/proc, /sys) is the ground truth of the live scenarios.
import { paletteCommand } from './browser.mjs';
import { sleep } from './context.mjs';

const rows = (page) => page.locator('.terminal-wrapper .xterm-rows').first();

/** The terminal's visible text, one line per row (xterm's DOM renderer uses no-break spaces). */
export async function screenText(page) {
  return (await rows(page).evaluate((el) => [...el.children].map((r) => r.textContent ?? '').join('\n'))).replace(/\u00a0/g, ' ');
}

export async function focusTerminal(page) {
  const screen = page.locator('.terminal-wrapper .xterm-screen').first();
  // The panel may show the Debug Console instead (a session start or a stop can switch it).
  if (!(await screen.isVisible())) {
    await paletteCommand(page, 'Terminal: Focus Terminal', { filter: 'Terminal: Focus Terminal' });
    await screen.waitFor({ state: 'visible', timeout: 10_000 });
  }
  // The rows sit under xterm's input layers: click the screen to focus the terminal.
  await screen.click({ force: true });
}

let next = 0;

/**
 * Types `command` into the guest shell on a cleared screen and returns what it printed, between
 * two markers the shell echoes (the typed line shows them quoted, so only the output matches).
 * The output must fit on the screen.
 */
export async function guestRun(page, command, timeoutMs = 60_000) {
  const id = `${process.pid % 1000}${next++}`;
  await focusTerminal(page);
  await page.keyboard.type(`clear; echo K''B${id}; ${command}; echo K''E${id}`);
  await page.keyboard.press('Enter');
  const begin = `KB${id}`;
  const end = `KE${id}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await screenText(page);
    const lines = text.split('\n').map((l) => l.trimEnd());
    const b = lines.indexOf(begin);
    const e = lines.indexOf(end);
    if (b >= 0 && e > b) return lines.slice(b + 1, e).join('\n');
    if (Date.now() > deadline) throw new Error(`the guest did not answer "${command}" within ${timeoutMs / 1000} s; screen:\n${text.slice(-1500)}`);
    await sleep(200);
  }
}
