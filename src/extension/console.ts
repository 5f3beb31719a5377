import * as vscode from 'vscode';
import type { CustomEvents } from '../adapter/protocol';
import type { KdapConfiguration } from './debug';
import { CrlfTranslator, expectsConsole, PendingOutput } from './serial-text';
import { debugType, kdapRequest } from './sessions';

/** How much of each console the extension remembers for `transcript` (tests, bug reports). */
const transcriptLimit = 64 * 1024;

export function consoleName(session: vscode.DebugSession): string {
  return `Kernel console (${session.name})`;
}

/**
 * One guest console as a terminal: the adapter's `kdap/serial` text goes to the screen, what
 * the user types goes to the guest through `kdap/serialInput`. The guest echoes, so nothing is
 * echoed here.
 */
class SerialConsole implements vscode.Pseudoterminal {
  private readonly writeEmitter = new vscode.EventEmitter<string>();
  private readonly closeEmitter = new vscode.EventEmitter<void>();
  readonly onDidWrite = this.writeEmitter.event;
  readonly onDidClose = this.closeEmitter.event;
  private readonly crlf = new CrlfTranslator();
  private readonly pending = new PendingOutput();
  private opened = false;
  private inputFailed = false;
  ended = false;
  transcript = '';
  readonly terminal: vscode.Terminal;

  constructor(
    private readonly session: vscode.DebugSession,
    private readonly onUserClose: () => void,
  ) {
    this.terminal = vscode.window.createTerminal({
      name: consoleName(session),
      pty: this,
      iconPath: new vscode.ThemeIcon('terminal-linux'),
      // Nothing to reconnect to after a window reload.
      isTransient: true,
    });
  }

  open(): void {
    this.opened = true;
    const held = this.pending.drain();
    if (held) this.writeEmitter.fire(held);
  }

  close(): void {
    this.onUserClose();
  }

  handleInput(data: string): void {
    if (this.ended) {
      this.terminal.dispose();
      return;
    }
    kdapRequest(this.session, 'kdap/serialInput', { text: data }).then(undefined, (err: unknown) => {
      // Once per console: a guest that cannot take input would otherwise print this per key.
      if (this.inputFailed) return;
      this.inputFailed = true;
      this.write(`\r\n[kdap: input not delivered: ${err instanceof Error ? err.message : String(err)}]\r\n`);
    });
  }

  /** Guest output, with line endings fixed for the terminal. */
  output(text: string): void {
    this.write(this.crlf.translate(text));
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.write('\r\n[session ended — press any key to close]\r\n');
  }

  private write(text: string): void {
    this.transcript = (this.transcript + text).slice(-transcriptLimit);
    if (this.opened) this.writeEmitter.fire(text);
    else this.pending.push(text);
  }

  dispose(): void {
    this.writeEmitter.dispose();
    this.closeEmitter.dispose();
  }
}

/**
 * The guest consoles of kdap sessions, one terminal each. A terminal opens when a session that
 * will have console output starts (or with its first output), says so when the session ends,
 * and goes with the next keystroke or when a session of the same name starts again.
 */
export class SerialConsoles implements vscode.Disposable {
  private readonly consoles = new Map<string, SerialConsole>();
  /** Sessions whose terminal the user closed: their output does not reopen one. */
  private readonly dismissed = new Set<string>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor() {
    this.disposables.push(
      vscode.debug.onDidStartDebugSession((s) => {
        if (s.type === debugType && expectsConsole(s.configuration as KdapConfiguration)) this.consoleFor(s)?.terminal.show(true);
      }),
      vscode.debug.onDidReceiveDebugSessionCustomEvent((e) => {
        if (e.session.type !== debugType || e.event !== 'kdap/serial') return;
        const text = (e.body as Partial<CustomEvents['kdap/serial']> | undefined)?.text;
        if (typeof text === 'string' && text) this.consoleFor(e.session)?.output(text);
      }),
      vscode.debug.onDidTerminateDebugSession((s) => {
        this.consoles.get(s.id)?.end();
        this.dismissed.delete(s.id);
      }),
      vscode.window.onDidCloseTerminal((t) => {
        for (const [id, c] of this.consoles) {
          if (c.terminal !== t) continue;
          this.consoles.delete(id);
          c.dispose();
        }
      }),
    );
  }

  /** What the console of `sessionId` showed, newest 64 KiB. */
  transcript(sessionId: string): string | undefined {
    return this.consoles.get(sessionId)?.transcript;
  }

  private consoleFor(session: vscode.DebugSession): SerialConsole | undefined {
    const known = this.consoles.get(session.id);
    if (known) return known;
    if (this.dismissed.has(session.id)) return undefined;
    // A restarted session reuses the name: the ended console before it has nothing more to say.
    for (const [id, c] of this.consoles) {
      if (c.ended && c.terminal.name === consoleName(session)) {
        this.consoles.delete(id);
        c.terminal.dispose();
        c.dispose();
      }
    }
    const c = new SerialConsole(session, () => {
      if (!c.ended) this.dismissed.add(session.id);
    });
    this.consoles.set(session.id, c);
    return c;
  }

  dispose(): void {
    for (const c of this.consoles.values()) {
      c.terminal.dispose();
      c.dispose();
    }
    this.consoles.clear();
    for (const d of this.disposables) d.dispose();
  }
}
