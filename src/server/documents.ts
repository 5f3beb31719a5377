/**
 * Parsed logs per open document, computed on first use and kept for that document version.
 * Parsing runs in slices that yield to the event loop, so a 100k-line log never holds up the
 * requests of other documents, and an edit abandons the parse of the version it replaced.
 */
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { LogParser } from '../oops/parse';
import type { ParsedLog } from '../oops/types';
import { TargetIndex } from './features';

/** Lines parsed between two yields: a few milliseconds of work. */
export const SLICE_LINES = 5000;

export interface Parsed {
  version: number;
  log: ParsedLog;
  targets: TargetIndex;
  /** Wall time from the start of the parse to its end, yields included. */
  millis: number;
}

interface Entry {
  version: number;
  result: Promise<Parsed | undefined>;
}

export class Superseded extends Error {
  constructor() {
    super('document changed while it was being parsed');
    this.name = 'Superseded';
  }
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export class ParsedDocuments {
  private readonly entries = new Map<string, Entry>();
  private readonly latest = new Map<string, number>();

  /** The parse of exactly this version; undefined if a newer version arrived meanwhile. */
  get(doc: TextDocument): Promise<Parsed | undefined> {
    this.latest.set(doc.uri, doc.version);
    const have = this.entries.get(doc.uri);
    if (have && have.version === doc.version) return have.result;
    const result = this.parse(doc).catch((err: unknown) => {
      if (err instanceof Superseded) return undefined;
      throw err;
    });
    this.entries.set(doc.uri, { version: doc.version, result });
    return result;
  }

  /** Called on change: the next get() parses again, and a running parse stops at its next slice. */
  invalidate(uri: string, version: number): void {
    this.latest.set(uri, version);
  }

  forget(uri: string): void {
    this.entries.delete(uri);
    this.latest.delete(uri);
  }

  private async parse(doc: TextDocument): Promise<Parsed> {
    const started = Date.now();
    const { uri, version } = doc;
    // Line breaks as the TextDocument counts them (\r, \n, \r\n), so positions agree with the editor.
    const text = doc.getText();
    const lines = text.includes('\r') ? text.split(/\r\n|\r|\n/) : text.split('\n');
    const parser = new LogParser();
    for (let i = 0; i < lines.length; i += SLICE_LINES) {
      if (i > 0) {
        await yieldToEventLoop();
        if (this.latest.get(uri) !== version) throw new Superseded();
      }
      const end = Math.min(lines.length, i + SLICE_LINES);
      for (let j = i; j < end; j++) parser.push(lines[j]);
    }
    const log = parser.finish();
    return { version, log, targets: new TargetIndex(log), millis: Date.now() - started };
  }
}
