/**
 * Drives the real built adapter (dist/adapter.js) over DAP, as VS Code does, and collects
 * what it prints: serial console text (output category stdout) and stop events.
 */
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { alive, childProcesses } from './processes';

export const repoRoot = path.resolve(__dirname, '..', '..', '..');
export const adapterJs = path.join(repoRoot, 'dist', 'adapter.js');

export class KdapClient extends DebugClient {
  console = '';
  /** The adapter's trace (every MI command and reply) when launched with trace: true. */
  trace: string[] = [];
  private consoleWaiters: Array<{ re: RegExp; from: number; resolve: () => void }> = [];

  constructor() {
    super(process.execPath, adapterJs, 'kdap');
    this.defaultTimeout = 120_000;
    this.on('output', (e: DebugProtocol.OutputEvent) => {
      if (e.body.category === 'console') this.trace.push(e.body.output);
      if (e.body.category !== 'stdout') return;
      this.console += e.body.output.replace(/\r/g, '').replace(/\x1b\[6n/g, '');
      this.consoleWaiters = this.consoleWaiters.filter((w) => {
        if (!w.re.test(this.console.slice(w.from))) return true;
        w.resolve();
        return false;
      });
    });
  }

  /** Resolves when the serial console shows `re` after offset `from`. */
  waitForConsole(re: RegExp, timeoutMs = 120_000, from = 0): Promise<void> {
    if (re.test(this.console.slice(from))) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`console never showed ${re}; tail:\n${this.console.slice(-800)}`)), timeoutMs);
      this.consoleWaiters.push({ re, from, resolve: () => { clearTimeout(timer); resolve(); } });
    });
  }

  /**
   * Stops the client. After a disconnect the adapter process has already exited and the base
   * stop() never settles; the timer keeps the event loop alive until one of them finishes.
   */
  async close(): Promise<void> {
    await Promise.race([this.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 3000))]);
  }

  /**
   * Teardown of a launch: disconnect with terminateDebuggee, then fail if any process the adapter
   * started (QEMU, gdb) is still in the process table 5 s later. For `after` hooks: ending a
   * session is cleanup, not a feature of its own (dap.test.ts tests that).
   */
  async endLaunch(): Promise<void> {
    const pid = (this as unknown as { _adapterProcess?: { pid?: number } })._adapterProcess?.pid;
    const started = pid === undefined ? [] : childProcesses(pid).filter((c) => !c.zombie);
    await this.disconnectRequest({ terminateDebuggee: true }).catch(() => undefined);
    const deadline = Date.now() + 5000;
    let left = started.filter((c) => alive(c.pid));
    while (left.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      left = left.filter((c) => alive(c.pid));
    }
    await this.close();
    if (left.length) throw new Error(`left running after disconnect: ${left.map((c) => `${c.comm}(${c.pid})`).join(' ')}`);
  }

  /** Writes the trace and console next to the other test artifacts, for a failing run. */
  saveLogs(name: string): void {
    const dir = path.join(repoRoot, 'test-artifacts', 'e2e');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${name}.mi.log`), this.trace.join(''));
    fs.writeFileSync(path.join(dir, `${name}.console.log`), this.console);
  }

  /** Types a line into the guest shell through the adapter. */
  async type(line: string): Promise<void> {
    await this.customRequest('kdap/serialInput', { text: `${line}\n` });
  }

  async stopped(reason?: string, timeoutMs = 120_000): Promise<DebugProtocol.StoppedEvent> {
    const e = (await this.waitForEvent('stopped', timeoutMs)) as DebugProtocol.StoppedEvent;
    if (reason && e.body.reason !== reason) throw new Error(`stopped for '${e.body.reason}' (${e.body.description ?? ''}), expected '${reason}'`);
    return e;
  }

  async topFrame(threadId: number): Promise<DebugProtocol.StackFrame> {
    const st = await this.stackTraceRequest({ threadId, startFrame: 0, levels: 20 });
    return st.body.stackFrames[0];
  }
}
