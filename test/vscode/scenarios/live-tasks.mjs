// The Tasks view and "Kernel: Find Task…" in the live session, checked against the guest's own
// /proc read on its serial console: the view's processes are the guest's /proc/[0-9]* (pid and
// comm, from /proc/PID/stat), and a task's Call Stack is its /proc/PID/stack.
import { createHash } from 'node:crypto';
import { log } from '../harness/context.mjs';
import { focusWorkbench, openKernelContainer, paletteCommand, scenario, shot, until, viewPane } from '../harness/browser.mjs';
import { allViewRows, callStackThreads, loadAllFrames, expandPane, procStackNames, realFrames, revealViewRow, showRunView, stackMatches } from '../harness/debug-views.mjs';
import { guestRun } from '../harness/terminal.mjs';

export const tasksNames = [
  'the Tasks view lists the guest\'s processes: pid and comm as its /proc/PID/stat gives them',
  'a click on a sleeping task in the Tasks view: its Call Stack is the guest\'s /proc/PID/stack',
  '"Kernel: Find Task…" with a typed pid: that task\'s Call Stack is the guest\'s /proc/PID/stack',
  'Pause after Continue from a task\'s thread (task threads listed) stops the kernel, and Continue runs the guest again',
];

/** The thread of the Call Stack whose name holds `[pid]`, once it shows at least `n` frames. */
async function threadOf(page, pid, n) {
  await showRunView(page);
  return until(`a Call Stack thread of pid ${pid} with ${n}+ frames`, async () => {
    const threads = await callStackThreads(page);
    return threads.find((t) => t.text.includes(`[${pid}]`) && t.frames.length >= n) ?? { ok: false, threads };
  }, 60_000, 500);
}

function assertStack(pid, frames, procStack) {
  const ours = realFrames(frames);
  if (!stackMatches(ours, procStack)) throw new Error(`pid ${pid}: the Call Stack ${ours.join(' < ')}; the guest's /proc/${pid}/stack ${procStack.join(' < ')}`);
  log(`ui: the Call Stack of pid ${pid} holds /proc/${pid}/stack (${procStack.join(' < ')})`);
}

export async function tasksScenarios({ page, pause, resume }) {
  let sleeper;
  let sleeperStack;

  await scenario(tasksNames[0], page, async () => {
    await resume(page);
    sleeper = Number(/(\d+)\s*$/.exec(await guestRun(page, 'sleep 100000 & echo $!'))?.[1]);
    if (!(sleeper > 1)) throw new Error('no pid for the sleep');
    sleeperStack = procStackNames(await guestRun(page, `cat /proc/${sleeper}/stack`));
    if (sleeperStack.length < 3) throw new Error(`/proc/${sleeper}/stack: ${sleeperStack.join(' ')}`);
    await pause(page);
    await openKernelContainer(page);
    await expandPane(page, 'Tasks');
    const rows = await until(`the Tasks view with ${sleeper} sleep`, async () => {
      // Two passes that agree: rows read while the view was still filling are not taken.
      const all = await allViewRows(page, 'Tasks');
      const again = await allViewRows(page, 'Tasks');
      if (JSON.stringify(all) !== JSON.stringify(again)) return { ok: false, changing: true };
      return (all.some((r) => r.label === `${sleeper} sleep`) && all) || { ok: false, all: all.slice(-5) };
    }, 60_000, 1000);
    await shot(page, 'tasks-view');
    await resume(page);
    // The guest's processes that existed at the pause: every pid below the first one started
    // for this question (pids are handed out in order in a guest this young).
    const answer = await guestRun(
      page,
      // proc_task_name() shows a kernel thread's full name and a worker's workqueue: cut them to the
      // task's comm as procComm() does.
      `P=$(sh -c 'echo $$'); for f in /proc/[0-9]*/stat; do read p c r < $f; [ $p -lt $P ] || continue; c=\${c#(}; c=\${c%)}; case $c in kworker/*) c=\${c%%-*};; esac; printf '%s (%.15s)\\n' $p "$c"; done | sort > /tmp/kdap-ps; echo $P; wc -l < /tmp/kdap-ps; md5sum < /tmp/kdap-ps`,
    );
    const [first, count, sum] = answer.trim().split('\n').map((l) => l.trim());
    const below = Number(first);
    const ours = rows
      .filter((r) => r.level === 1)
      .map((r) => /^(\d+) \[?(.*?)\]?$/.exec(r.label))
      .filter((m) => m && Number(m[1]) > 0 && Number(m[1]) < below)
      .map((m) => `${m[1]} (${m[2]})`)
      .sort();
    const ourSum = createHash('md5').update(ours.map((l) => `${l}\n`).join('')).digest('hex');
    if (Number(count) !== ours.length || !sum.startsWith(ourSum)) {
      throw new Error(`the guest has ${count} processes below pid ${below} (md5 ${sum}); the view ${ours.length} (md5 ${ourSum}): ${ours.join(', ')}`);
    }
    log(`ui: the Tasks view's ${ours.length} processes (pid, comm) equal the guest's /proc`);
  }, 240_000);

  await scenario(tasksNames[1], page, async () => {
    if (!sleeperStack) throw new Error('no sleep task: the previous scenario failed');
    await pause(page);
    await openKernelContainer(page);
    await expandPane(page, 'Tasks');
    const row = await revealViewRow(page, 'Tasks', `${sleeper} sleep`);
    await row.click();
    const thread = await threadOf(page, sleeper, sleeperStack.length);
    await shot(page, 'tasks-call-stack');
    assertStack(sleeper, thread.frames, sleeperStack);
  }, 120_000);

  await scenario(tasksNames[2], page, async () => {
    await resume(page);
    // A second sleep (pid 1 is the shell that reads /proc, so its own stack moves).
    const other = Number(/(\d+)\s*$/.exec(await guestRun(page, 'sleep 100001 & echo $!'))?.[1]);
    const initStack = procStackNames(await guestRun(page, `cat /proc/${other}/stack`));
    if (initStack.length < 3) throw new Error(`/proc/${other}/stack: ${initStack.join(' ')}`);
    await pause(page);
    await paletteCommand(page, 'Kernel: Find Task…', { filter: 'Kernel: Find Task' });
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    const pick = page.locator('.quick-input-list .monaco-list-row', { hasText: new RegExp(`^\\s*${other} sleep`) }).first();
    await until('the Find Task list', async () => (await page.locator('.quick-input-list .monaco-list-row').count()) > 3, 30_000);
    await input.fill(String(other));
    await pick.waitFor({ state: 'visible', timeout: 10_000 });
    await pick.click();
    const thread = await threadOf(page, other, initStack.length);
    assertStack(other, thread.frames, initStack);
    await resume(page);
    await guestRun(page, `kill ${other}`).catch(() => undefined);
    await focusWorkbench(page);
    await shot(page, 'find-task');
  }, 120_000);

  // The last scenario continued with the picked task's thread in focus.
  await scenario(tasksNames[3], page, async () => {
    await resume(page);
    await pause(page);
    await resume(page);
    const answer = await guestRun(page, 'echo alive-$((40+2))');
    if (!/alive-42/.test(answer)) throw new Error(`the guest's shell after Continue: ${answer}`);
  }, 120_000);
  await resume(page).catch(() => undefined);
  if (sleeper) await guestRun(page, `kill ${sleeper}`).catch(() => undefined);
}
