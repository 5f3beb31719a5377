/**
 * GDB/MI output parser: one line in, one typed record out.
 *
 * Grammar (gdb manual, "GDB/MI Output Syntax"):
 *   result-record  = [token] "^" class ("," result)*
 *   async-record   = [token] ("*" | "+" | "=") class ("," result)*
 *   stream-record  = ("~" | "@" | "&") c-string
 *   result         = variable "=" value;  value = c-string | tuple | list
 * gdb emits tuples with repeated keys (`bkpt={…},{…}` for multi-location breakpoints in old
 * MI versions, `frame=` inside lists): a repeated key keeps every value, see MITuple.
 */

export type MIValue = string | MITuple | MIValue[];

/** A tuple keeps insertion order; a key gdb repeats maps to all its values in `repeated`. */
export interface MITuple {
  [key: string]: MIValue;
}

export type ResultClass = 'done' | 'running' | 'connected' | 'error' | 'exit';
export type AsyncKind = 'exec' | 'status' | 'notify';
export type StreamKind = 'console' | 'target' | 'log';

export type MIRecord =
  | { type: 'result'; token?: number; cls: ResultClass; results: MITuple }
  | { type: AsyncKind; token?: number; cls: string; results: MITuple }
  | { type: StreamKind; text: string }
  | { type: 'prompt' }
  | { type: 'other'; text: string };

const asyncKinds: Record<string, AsyncKind> = { '*': 'exec', '+': 'status', '=': 'notify' };
const streamKinds: Record<string, StreamKind> = { '~': 'console', '@': 'target', '&': 'log' };
const resultClasses = new Set<string>(['done', 'running', 'connected', 'error', 'exit']);

export class MIParseError extends Error {
  constructor(message: string, readonly line: string, readonly position: number) {
    super(`${message} at column ${position + 1}: ${line.length > 200 ? line.slice(0, 200) + '…' : line}`);
    this.name = 'MIParseError';
  }
}

/** Parses one line of gdb MI output (without its newline). Non-MI text comes back as `other`. */
export function parseMILine(line: string): MIRecord {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (text === '(gdb) ' || text === '(gdb)') return { type: 'prompt' };
  let pos = 0;
  while (pos < text.length && text.charCodeAt(pos) >= 48 && text.charCodeAt(pos) <= 57) pos++;
  const token = pos > 0 ? Number(text.slice(0, pos)) : undefined;
  const marker = text[pos];
  if (marker === undefined) return { type: 'other', text };
  if (token === undefined && marker in streamKinds) {
    if (text[1] !== '"') return { type: 'other', text };
    const cursor = new Cursor(text, 1);
    const value = cursor.cString();
    if (!cursor.atEnd()) return { type: 'other', text };
    return { type: streamKinds[marker], text: value };
  }
  if (marker !== '^' && !(marker in asyncKinds)) return { type: 'other', text };
  const cursor = new Cursor(text, pos + 1);
  const cls = cursor.word();
  if (cls === '') return { type: 'other', text };
  const results = cursor.resultsUntilEnd();
  if (marker === '^') {
    if (!resultClasses.has(cls)) throw new MIParseError(`unknown result class '${cls}'`, text, pos + 1);
    return token === undefined
      ? { type: 'result', cls: cls as ResultClass, results }
      : { type: 'result', token, cls: cls as ResultClass, results };
  }
  const type = asyncKinds[marker];
  return token === undefined ? { type, cls, results } : { type, token, cls, results };
}

class Cursor {
  constructor(private readonly text: string, private pos: number) {}

  atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  private fail(message: string): never {
    throw new MIParseError(message, this.text, this.pos);
  }

  private expect(ch: string): void {
    if (this.text[this.pos] !== ch) this.fail(`expected '${ch}'`);
    this.pos++;
  }

  /** A class name or a variable name: anything up to `=`, `,` or a bracket. */
  word(): string {
    const start = this.pos;
    while (this.pos < this.text.length) {
      const c = this.text[this.pos];
      if (c === '=' || c === ',' || c === '{' || c === '}' || c === '[' || c === ']' || c === '"') break;
      this.pos++;
    }
    return this.text.slice(start, this.pos);
  }

  resultsUntilEnd(): MITuple {
    const tuple: MITuple = {};
    let last: string | undefined;
    while (!this.atEnd()) {
      this.expect(',');
      last = this.result(tuple, last);
    }
    return tuple;
  }

  /** One `name=value`, or (mi2's `bkpt={…},{…}`) a bare value continuing the previous name. */
  private result(into: MITuple, previous?: string): string {
    const c = this.text[this.pos];
    if (previous !== undefined && (c === '{' || c === '[' || c === '"')) {
      addMember(into, previous, this.value());
      return previous;
    }
    const name = this.word();
    if (name === '') this.fail('expected a variable name');
    this.expect('=');
    addMember(into, name, this.value());
    return name;
  }

  private value(): MIValue {
    const c = this.text[this.pos];
    if (c === '"') return this.cString();
    if (c === '{') return this.tuple();
    if (c === '[') return this.list();
    return this.fail('expected a value');
  }

  private tuple(): MITuple {
    this.expect('{');
    const tuple: MITuple = {};
    if (this.text[this.pos] === '}') {
      this.pos++;
      return tuple;
    }
    let last: string | undefined;
    for (;;) {
      last = this.result(tuple, last);
      const c = this.text[this.pos++];
      if (c === '}') return tuple;
      if (c !== ',') this.fail("expected ',' or '}'");
    }
  }

  /** Lists hold values or results; for results the names are dropped (gdb repeats `frame=`). */
  private list(): MIValue[] {
    this.expect('[');
    const items: MIValue[] = [];
    if (this.text[this.pos] === ']') {
      this.pos++;
      return items;
    }
    for (;;) {
      const c = this.text[this.pos];
      if (c === '"' || c === '{' || c === '[') {
        items.push(this.value());
      } else {
        const name = this.word();
        this.expect('=');
        const value = this.value();
        // Keep the name when it carries meaning for a one-key tuple (`frame={…}`) by wrapping.
        items.push(name === '' ? value : { [name]: value });
      }
      const next = this.text[this.pos++];
      if (next === ']') return items;
      if (next !== ',') this.fail("expected ',' or ']'");
    }
  }

  /** A C string: gdb escapes non-printable bytes as octal, so decode to bytes, then UTF-8. */
  cString(): string {
    this.expect('"');
    const bytes: number[] = [];
    let plainStart = this.pos;
    const flushPlain = (end: number) => {
      if (end > plainStart) bytes.push(...Buffer.from(this.text.slice(plainStart, end), 'utf8'));
    };
    while (this.pos < this.text.length) {
      const c = this.text[this.pos];
      if (c === '"') {
        flushPlain(this.pos);
        this.pos++;
        return Buffer.from(bytes).toString('utf8');
      }
      if (c !== '\\') {
        this.pos++;
        continue;
      }
      flushPlain(this.pos);
      const e = this.text[this.pos + 1];
      this.pos += 2;
      switch (e) {
        case 'n': bytes.push(10); break;
        case 't': bytes.push(9); break;
        case 'r': bytes.push(13); break;
        case 'a': bytes.push(7); break;
        case 'b': bytes.push(8); break;
        case 'f': bytes.push(12); break;
        case 'v': bytes.push(11); break;
        case 'e': bytes.push(27); break;
        case '"': bytes.push(34); break;
        case '\\': bytes.push(92); break;
        case "'": bytes.push(39); break;
        case undefined: this.fail('unterminated escape'); break;
        default:
          if (e >= '0' && e <= '7') {
            let n = e.charCodeAt(0) - 48;
            for (let k = 0; k < 2 && this.text[this.pos] >= '0' && this.text[this.pos] <= '7'; k++) {
              n = n * 8 + (this.text.charCodeAt(this.pos) - 48);
              this.pos++;
            }
            bytes.push(n & 0xff);
          } else {
            bytes.push(...Buffer.from(e, 'utf8'));
          }
      }
      plainStart = this.pos;
    }
    return this.fail('unterminated string');
  }
}

function addMember(tuple: MITuple, name: string, value: MIValue): void {
  if (!(name in tuple)) {
    tuple[name] = value;
    return;
  }
  // A repeated key (old-style multi-location `bkpt={…},{…}`): collect every value in a list.
  const existing = tuple[name];
  const key = `${name}*`;
  const all = (tuple[key] as MIValue[] | undefined) ?? [existing];
  all.push(value);
  tuple[key] = all;
}

/** Quotes one argument of an MI command the way gdb's MI lexer reads it. */
export function quoteArg(arg: string): string {
  if (arg !== '' && /^[A-Za-z0-9_./:*$+\-@]+$/.test(arg)) return arg;
  let out = '"';
  for (const ch of arg) {
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else out += ch;
  }
  return out + '"';
}
