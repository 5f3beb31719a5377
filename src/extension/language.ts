import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  CloseAction,
  ErrorAction,
  LanguageClient,
  RevealOutputChannelOn,
  TransportKind,
  type LanguageClientOptions,
  type ServerOptions,
} from 'vscode-languageclient/node';
import { looksLikeKernelLog, SNIFF_BYTES } from '../oops/sniff';

export const kernelLogLanguage = 'kernel-log';

/** A crashing server is restarted this many times, then left stopped (crash logs still open). */
const maxRestarts = 3;

/**
 * The language client for kernel logs (document links, hovers, code lenses and diagnostics come
 * from dist/server.js). Started defensively: a missing or crashing server is logged to the
 * "Kernel Log" output channel and never fails the extension.
 */
export class KernelLogClient implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<void> | undefined;

  constructor(
    private readonly serverJs: string,
    private readonly output: vscode.LogOutputChannel,
  ) {}

  get running(): boolean {
    return this.client?.isRunning() ?? false;
  }

  /** Starts the client once; later calls wait for that start. */
  start(): Promise<void> {
    this.starting ??= this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    if (!fs.existsSync(this.serverJs)) {
      this.output.warn(`kernel-log language server not found at ${this.serverJs}; crash logs open without it.`);
      return;
    }
    const run = { module: this.serverJs, transport: TransportKind.ipc };
    const serverOptions: ServerOptions = { run, debug: { ...run, options: { execArgv: ['--nolazy', '--inspect=6019'] } } };
    let restarts = 0;
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ language: kernelLogLanguage }],
      synchronize: { configurationSection: 'kdap' },
      // An untrusted workspace must not name the programs the server runs (src/server/settings.ts).
      initializationOptions: { trusted: vscode.workspace.isTrusted },
      outputChannel: this.output,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationFailedHandler: (err) => {
        this.output.warn(`kernel-log language server failed to initialize: ${String(err)}`);
        return false;
      },
      errorHandler: {
        error: (err) => {
          this.output.error(`kernel-log language server connection error: ${err.message}`);
          return { action: ErrorAction.Continue, handled: true };
        },
        closed: () => {
          restarts += 1;
          const again = restarts <= maxRestarts;
          this.output.warn(`kernel-log language server stopped${again ? '; restarting' : ' for good'}.`);
          return { action: again ? CloseAction.Restart : CloseAction.DoNotRestart, handled: true };
        },
      },
    };
    const client = new LanguageClient('kdap.kernelLog', 'Kernel Log', serverOptions, clientOptions);
    this.client = client;
    try {
      await client.start();
    } catch (err) {
      this.output.warn(`kernel-log language server did not start: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** A request to the server, started first if needed; undefined when it is not running. */
  async sendRequest<R>(method: string, params: unknown): Promise<R | undefined> {
    await this.start();
    const client = this.client;
    if (!client?.isRunning()) return undefined;
    return client.sendRequest<R>(method, params);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.starting = undefined;
    if (client?.isRunning()) {
      try {
        await client.stop(2000);
      } catch (err) {
        this.output.warn(`kernel-log language server did not stop cleanly: ${String(err)}`);
      }
    }
  }

  dispose(): void {
    void this.stop();
  }
}

/** Languages VS Code gives a `.log` or `.txt` file by its name; only those are looked into. */
const guessedLanguages = new Set(['plaintext', 'log']);
/** Names kernel logs are saved under (`*.log`, `*.txt`, `kern.log.1`, `dmesg`, syzbot's `report.txt`, `messages`…). */
const logNames = /(?:\.(?:log|txt)(?:\.\d{1,3})?|^(?:kern\.log|dmesg|syslog|messages|console)(?:[.-][\w.-]{1,32})?)$/i;
/** An untitled editor is looked at again as text is pasted into it, at most this many times. */
const maxUntitledLooks = 8;

/**
 * Gives kernel logs saved as `*.log`/`*.txt` (which VS Code opens as Log or Plain Text by their
 * extension, whatever their first line) the kernel-log language, by looking at their first
 * few KB with the parser's own recognisers. A document is decided once: when the user picks
 * another language afterwards, that choice stands, and a `files.associations` entry for the
 * file is never overridden.
 */
export class KernelLogDetector implements vscode.Disposable {
  private readonly decided = new Set<string>();
  private readonly untitledLooks = new Map<string, number>();
  private readonly subscriptions: vscode.Disposable[];

  constructor() {
    this.subscriptions = [
      vscode.workspace.onDidOpenTextDocument((d) => this.look(d)),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.document.isUntitled && e.contentChanges.length > 0) this.look(e.document);
      }),
      vscode.workspace.onDidCloseTextDocument((d) => this.untitledLooks.delete(d.uri.toString())),
    ];
    for (const d of vscode.workspace.textDocuments) this.look(d);
  }

  private look(doc: vscode.TextDocument): void {
    if (!guessedLanguages.has(doc.languageId)) return;
    const key = doc.uri.toString();
    if (this.decided.has(key)) return;
    if (doc.isUntitled) {
      // Decided once it has enough text to tell, or after a few tries.
      const looks = (this.untitledLooks.get(key) ?? 0) + 1;
      this.untitledLooks.set(key, looks);
      if (doc.lineCount < 3 && looks < maxUntitledLooks) return;
      if (looks >= maxUntitledLooks || doc.lineCount >= 3) this.decided.add(key);
    } else {
      this.decided.add(key);
      if (!logNames.test(path.basename(doc.fileName)) || this.associated(doc)) return;
    }
    const head = doc.getText(new vscode.Range(0, 0, Math.min(doc.lineCount, 400), 0)).slice(0, SNIFF_BYTES);
    if (!looksLikeKernelLog(head)) return;
    this.decided.add(key);
    vscode.languages.setTextDocumentLanguage(doc, kernelLogLanguage).then(undefined, () => undefined);
  }

  /** True when a `files.associations` pattern names this file: the user chose its language. */
  private associated(doc: vscode.TextDocument): boolean {
    const associations = vscode.workspace.getConfiguration('files', doc).get<Record<string, string>>('associations') ?? {};
    return Object.keys(associations).some((pattern) => vscode.languages.match({ pattern: pattern.includes('/') ? pattern : `**/${pattern}` }, doc) > 0);
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
  }
}
