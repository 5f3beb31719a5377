import * as vscode from 'vscode';
import type { CustomRequestName, CustomRequests } from '../adapter/protocol';

export const debugType = 'kdap';

export type RunState = 'running' | 'stopped';

/** Context key, true while any kdap session exists: the Kernel views show only then. */
export const sessionActiveKey = 'kdap.sessionActive';

/** Requests after whose success the target runs again. */
const resumingCommands = new Set(['continue', 'next', 'stepIn', 'stepOut', 'stepBack', 'reverseContinue', 'goto']);

/**
 * Knows whether each kdap debug session is stopped. The VS Code API does not say, so a debug
 * adapter tracker watches the adapter's `stopped`/`continued` events and the responses to
 * stepping requests. Views refresh on `onDidChange` (state change, active session change, or a
 * custom event from the adapter).
 */
export class Sessions implements vscode.Disposable {
  private readonly states = new Map<string, RunState>();
  private readonly changed = new vscode.EventEmitter<vscode.DebugSession | undefined>();
  private readonly disposables: vscode.Disposable[] = [this.changed];
  readonly onDidChange = this.changed.event;

  constructor() {
    this.disposables.push(
      vscode.debug.registerDebugAdapterTrackerFactory(debugType, {
        createDebugAdapterTracker: (session) => ({
          onDidSendMessage: (m: { type?: string; event?: string; command?: string; success?: boolean }) => {
            if (m.type === 'event' && m.event === 'stopped') this.set(session, 'stopped');
            else if (m.type === 'event' && m.event === 'continued') this.set(session, 'running');
            else if (m.type === 'response' && m.success && m.command && resumingCommands.has(m.command)) {
              this.set(session, 'running');
            }
          },
          onWillStopSession: () => this.forget(session),
          onExit: () => this.forget(session),
        }),
      }),
      // The adapter's first `stopped` can pass the tracker before VS Code announces the
      // session started (a stop right after configurationDone): keep a state already known.
      vscode.debug.onDidStartDebugSession((s) => {
        if (s.type !== debugType) return;
        if (this.states.has(s.id)) this.changed.fire(s);
        else this.set(s, 'running');
      }),
      vscode.debug.onDidTerminateDebugSession((s) => this.forget(s)),
      vscode.debug.onDidChangeActiveDebugSession((s) => this.changed.fire(s)),
      // The adapter announces changes the views care about as kdap/* custom events
      // (e.g. a module that loaded while the target ran).
      vscode.debug.onDidReceiveDebugSessionCustomEvent((e) => {
        // Guest console text (kdap/serial) is for the terminal: it changes nothing a view shows.
        if (e.session.type === debugType && e.event.startsWith('kdap/') && e.event !== 'kdap/serial') this.changed.fire(e.session);
      }),
    );
  }

  /** The active debug session if it is a kdap one. */
  get active(): vscode.DebugSession | undefined {
    const s = vscode.debug.activeDebugSession;
    return s?.type === debugType ? s : undefined;
  }

  state(session: vscode.DebugSession): RunState {
    return this.states.get(session.id) ?? 'running';
  }

  private set(session: vscode.DebugSession, state: RunState): void {
    if (this.states.get(session.id) === state) return;
    this.states.set(session.id, state);
    if (this.states.size === 1) void vscode.commands.executeCommand('setContext', sessionActiveKey, true);
    this.changed.fire(session);
  }

  private forget(session: vscode.DebugSession): void {
    if (!this.states.delete(session.id)) return;
    if (this.states.size === 0) void vscode.commands.executeCommand('setContext', sessionActiveKey, false);
    this.changed.fire(session);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

/** A custom DAP request typed by `src/adapter/protocol.ts`. */
export async function kdapRequest<K extends CustomRequestName>(
  session: vscode.DebugSession,
  name: K,
  args: CustomRequests[K]['args'],
): Promise<CustomRequests[K]['result']> {
  return (await session.customRequest(name, args)) as CustomRequests[K]['result'];
}

/**
 * A request error in words for a view or a notification. An adapter without a handler for
 * the request answers "unrecognized request" (the @vscode/debugadapter default).
 */
export function describeRequestError(name: CustomRequestName, err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  if (/unrecogni[sz]ed request|not supported|unknown request/i.test(text)) {
    return `This debug adapter does not answer ${name} yet.`;
  }
  return text;
}
