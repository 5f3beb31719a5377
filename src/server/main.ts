/**
 * Language server for `kernel-log` documents (bundled to dist/server.js). Speaks LSP over
 * whatever transport the client picked (`--node-ipc` from VS Code, `--stdio` for other editors).
 *
 * Per report: a diagnostic on its header line, an outline entry with its sections, folding
 * ranges and two code lenses; per frame or code register: a hover and a document link. The
 * symbolized parts (links, lenses, the hover's source) come from a `Symbolizer` built from the
 * `kdap.*` settings (settings.ts), or one passed in.
 */
import './tuning';
import { fileURLToPath } from 'node:url';
import { createConnection, ProposedFeatures, TextDocuments, TextDocumentSyncKind, type Connection, type InitializeParams } from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { Symbolizer } from '../oops/symbolizer';
import { ParsedDocuments } from './documents';
import { diagnostics, documentSymbols, foldingRanges } from './features';
import {
  codeLenses,
  decode,
  DecodeRequest,
  documentLinks,
  locate,
  LocateRequest,
  resolveCodeLens,
  resolveFrameLink,
  symbolizedHover,
  type DecodeParams,
  type DecodeResult,
  type LocateParams,
  type LocateResult,
} from './navigation';
import { readSettings, SymbolizerHost } from './settings';

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
  const host = new SymbolizerHost(options.symbolizer);

  connection.onInitialize((params: InitializeParams) => {
    const init = (params.initializationOptions ?? {}) as { trusted?: unknown; kdap?: unknown };
    host.trusted = init.trusted !== false;
    const roots = (params.workspaceFolders ?? []).map((f) => f.uri).filter((u) => u.startsWith('file:')).map((u) => fileURLToPath(u));
    host.setRoots(roots);
    if (init.kdap) host.configure(readSettings(init.kdap));
    return {
      capabilities: {
        textDocumentSync: TextDocumentSyncKind.Incremental,
        hoverProvider: true,
        documentSymbolProvider: true,
        foldingRangeProvider: true,
        documentLinkProvider: { resolveProvider: true },
        codeLensProvider: { resolveProvider: true },
      },
      serverInfo: { name: 'kdap kernel-log', version: '0.1.0' },
    };
  });

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

  // TextDocuments fires onDidChangeContent right after onDidOpen for the same version; only
  // later edits wait for typing to pause, an opened document is parsed at once.
  const opened = new Set<string>();
  documents.onDidOpen((e) => {
    opened.add(e.document.uri);
    schedule(e.document, 0);
  });
  documents.onDidChangeContent((e) => {
    if (opened.delete(e.document.uri)) return;
    schedule(e.document, DIAGNOSTIC_DELAY_MS);
  });
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
    return symbolizedHover(target, host, SYMBOLIZE_TIMEOUT_MS);
  });

  connection.onDocumentLinks(async ({ textDocument }) => {
    const doc = documents.get(textDocument.uri);
    const result = doc && (await parsed.get(doc));
    if (!doc || !result) return null;
    return documentLinks(doc.uri, doc.getText().split(/\r\n|\r|\n/), result.log, host);
  });

  connection.onDocumentLinkResolve(async (link) => {
    const uri = (link.data as { uri?: string } | undefined)?.uri;
    const doc = uri ? documents.get(uri) : undefined;
    const result = doc && (await parsed.get(doc));
    return resolveFrameLink(link, result?.targets, host);
  });

  connection.onCodeLens(async ({ textDocument }) => {
    const doc = documents.get(textDocument.uri);
    const result = doc && (await parsed.get(doc));
    return result ? codeLenses(textDocument.uri, result.log) : null;
  });

  connection.onCodeLensResolve(async (lens) => {
    const uri = (lens.data as { uri?: string } | undefined)?.uri;
    const doc = uri ? documents.get(uri) : undefined;
    const result = doc && (await parsed.get(doc));
    return resolveCodeLens(lens, result?.log, host);
  });

  connection.onRequest(LocateRequest, async (params: LocateParams): Promise<LocateResult> => {
    const doc = params.uri ? documents.get(params.uri) : undefined;
    const result = doc && (await parsed.get(doc));
    const text = doc ? doc.getText() : (params.text ?? '');
    return locate(text.split(/\r\n|\r|\n/), result?.log, params, host);
  });

  connection.onRequest(DecodeRequest, async (params: DecodeParams): Promise<DecodeResult> => {
    const doc = params.uri ? documents.get(params.uri) : undefined;
    return decode(doc ? doc.getText() : (params.text ?? ''), params, host);
  });

  // vscode-languageclient sends `{ settings: { kdap: {…} } }` at start and on every change.
  connection.onDidChangeConfiguration((change) => {
    const settings = (change.settings as { kdap?: unknown } | null | undefined)?.kdap;
    if (settings !== undefined) host.configure(readSettings(settings));
  });
  connection.onShutdown(() => host.dispose());
  documents.listen(connection);
  connection.listen();
}

if (require.main === module) startServer(createConnection(ProposedFeatures.all));
