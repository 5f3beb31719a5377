/**
 * Language server for `kernel-log` documents (bundled to dist/server.js). Speaks LSP over
 * whatever transport the client picked (`--node-ipc` from VS Code, `--stdio` for other editors).
 *
 * Per report: a diagnostic on its header line, an outline entry with its sections, folding
 * ranges; per frame or code register: a hover. Symbolized hovers and links come from a
 * `Symbolizer` when one is configured (none yet).
 */
import { createConnection, ProposedFeatures, TextDocuments, TextDocumentSyncKind, type Connection } from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { Symbolizer } from '../oops/symbolizer';
import { ParsedDocuments } from './documents';
import { diagnostics, documentSymbols, foldingRanges, hoverFor } from './features';

/** Edits arrive keystroke by keystroke; diagnostics wait until typing pauses. */
const DIAGNOSTIC_DELAY_MS = 200;
/** A hover never waits longer than this for the symbolizer. */
const SYMBOLIZE_TIMEOUT_MS = 1500;

export interface ServerOptions {
  symbolizer?: Symbolizer;
}

export function startServer(connection: Connection, options: ServerOptions = {}): void {
  const documents = new TextDocuments(TextDocument);
  const parsed = new ParsedDocuments();
  const pending = new Map<string, NodeJS.Timeout>();

  connection.onInitialize(() => ({
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      hoverProvider: true,
      documentSymbolProvider: true,
      foldingRangeProvider: true,
    },
    serverInfo: { name: 'kdap kernel-log', version: '0.1.0' },
  }));

  async function publish(uri: string): Promise<void> {
    const doc = documents.get(uri);
    if (!doc) return;
    const result = await parsed.get(doc);
    // A newer version is on its way; its own publish will follow.
    if (!result || documents.get(uri)?.version !== result.version) return;
    await connection.sendDiagnostics({ uri, version: result.version, diagnostics: diagnostics(result.log) });
  }

  function schedule(doc: TextDocument, delay: number): void {
    parsed.invalidate(doc.uri, doc.version);
    clearTimeout(pending.get(doc.uri));
    pending.set(
      doc.uri,
      setTimeout(() => {
        pending.delete(doc.uri);
        publish(doc.uri).catch((err: unknown) => connection.console.error(`kernel-log: ${String(err)}`));
      }, delay),
    );
  }

  documents.onDidOpen((e) => schedule(e.document, 0));
  documents.onDidChangeContent((e) => schedule(e.document, DIAGNOSTIC_DELAY_MS));
  documents.onDidClose((e) => {
    clearTimeout(pending.get(e.document.uri));
    pending.delete(e.document.uri);
    parsed.forget(e.document.uri);
    void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
  });

  connection.onDocumentSymbol(async ({ textDocument }) => {
    const doc = documents.get(textDocument.uri);
    const result = doc && (await parsed.get(doc));
    return result ? documentSymbols(result.log) : null;
  });

  connection.onFoldingRanges(async ({ textDocument }) => {
    const doc = documents.get(textDocument.uri);
    const result = doc && (await parsed.get(doc));
    return result ? foldingRanges(result.log) : null;
  });

  connection.onHover(async ({ textDocument, position }) => {
    const doc = documents.get(textDocument.uri);
    const result = doc && (await parsed.get(doc));
    const target = result?.targets.at(position.line, position.character);
    if (!target) return null;
    const symbolizer = options.symbolizer;
    if (!symbolizer) return hoverFor(target);
    const context = { arch: target.report.arch, release: target.report.release };
    const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), SYMBOLIZE_TIMEOUT_MS).unref());
    const resolutions = await Promise.race([symbolizer.resolve(target.ref, context).catch(() => undefined), timeout]);
    return hoverFor(target, resolutions);
  });

  // The client syncs the `kdap` settings; the symbolizer that will read them is not there yet.
  connection.onDidChangeConfiguration(() => undefined);
  connection.onShutdown(() => options.symbolizer?.dispose());
  documents.listen(connection);
  connection.listen();
}

if (require.main === module) startServer(createConnection(ProposedFeatures.all));
