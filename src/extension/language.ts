import * as fs from 'node:fs';
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
