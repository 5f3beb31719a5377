/**
 * A bare DAP client (no process of its own) for adapters reached another way than DebugClient
 * spawns them: `kdap dap` on stdio, the adapter server's socket. And the oracle that a guest
 * runs on after a debugger let it go: its shell answers.
 */
import { ProtocolClient } from '@vscode/debugadapter-testsupport/lib/protocolClient';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { QemuProcess } from '../../src/engine/qemu';

export class EventClient extends ProtocolClient {
  /** The next `event` the adapter sends, or an error after `ms`. */
  waitFor(event: string, ms = 120_000): Promise<DebugProtocol.Event> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no '${event}' event in ${ms} ms`)), ms);
      this.once(event, (e: DebugProtocol.Event) => {
        clearTimeout(timer);
        resolve(e);
      });
    });
  }
}

/** Resolves once the guest's shell has run an echo typed into its console: the kernel runs. */
export async function guestAnswers(qemu: QemuProcess, tag: string): Promise<void> {
  const before = qemu.consoleText.length;
  qemu.write(`echo ${tag}-$((40+2))\n`);
  const deadline = Date.now() + 30_000;
  while (!qemu.consoleText.slice(before).includes(`${tag}-42`)) {
    if (Date.now() > deadline) throw new Error(`the guest did not answer (${tag}): ${qemu.consoleText.slice(-300)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
