/**
 * Answers from outside kdap for e2e checks, reached through a running adapter: gdb's own console
 * (`-exec` in the REPL), QEMU's monitor translation, and the guest shell typed through
 * kdap/serialInput.
 */
import assert from 'node:assert/strict';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { KdapClient } from './dap';
import { GuestConsole } from './guest';

/** What gdb itself prints for a console command, monitor output included. */
export async function gdbConsole(dc: KdapClient, command: string): Promise<string> {
  const from = dc.trace.length;
  const r = await dc.evaluateRequest({ expression: `-exec ${command}`, context: 'repl' });
  // Monitor output is relayed as target output (@"…"), which the trace keeps.
  const target = dc.trace.slice(from).filter((l) => l.startsWith('← @')).map((l) => JSON.parse(l.slice(3).trim()) as string);
  return r.body.result + target.join('');
}

/** QEMU's own translation of `va` on the monitor's CPU `cpu` (its CPU is not gdb's thread). */
export async function gva2gpa(dc: KdapClient, cpu: number, va: bigint): Promise<bigint | 'unmapped'> {
  await gdbConsole(dc, `monitor cpu ${cpu}`);
  const text = await gdbConsole(dc, `monitor gva2gpa 0x${va.toString(16)}`);
  if (/Unmapped/.test(text)) return 'unmapped';
  const m = /gpa: (0x[0-9a-fA-F]+)/.exec(text);
  assert.ok(m, `gva2gpa said: ${text}`);
  return BigInt(m[1]);
}

/** The guest shell, typed into through the adapter and read from its console output. */
export function adapterShell(dc: KdapClient, prompt: string): GuestConsole {
  return new GuestConsole(
    {
      on: (event, listener) => {
        if (event === 'console') dc.on('output', (e: DebugProtocol.OutputEvent) => e.body.category === 'stdout' && listener(e.body.output));
        return undefined;
      },
      write: (text) => {
        void dc.customRequest('kdap/serialInput', { text });
        return true;
      },
    },
    prompt,
  );
}
