/**
 * Splitting a log into lines and peeling off everything a transport put in front of the
 * kernel's own text: mail quoting, syslog and journal headers (`journalctl -k` in any output
 * mode and locale, `kern.log`, OpenWrt `logread`), `dmesg -x` facility columns, printk levels,
 * `/dev/kmsg` record headers, timestamps and printk caller ids.
 *
 * Every pattern is sticky (matched at a position, never searched for) and every repetition
 * bounded, so one line costs O(its length) even for a 10 MB line of garbage.
 */

export interface LinePrefix {
  /** The kernel's message text (leading spaces kept: they tell frames from headers). */
  body: string;
  /** Column in the raw line where `body` starts. */
  bodyStart: number;
  /** Seconds since boot as printed (`"3.374037"`), when the line has a printk timestamp. */
  timestamp: string | undefined;
  /** printk caller id (`T94` task, `C1` CPU) from `CONFIG_PRINTK_CALLER`. */
  caller: string | undefined;
  /** True when something other than a known prefix preceded the timestamp (serial noise). */
  noise: boolean;
  /** True when the line carries a log's own prefix (a timestamp, a syslog or journal header, a record header). */
  stamped: boolean;
  /** Column where the mail quoting (`> > `) ends, and how many `>` it has. */
  quoteEnd: number;
  quoteDepth: number;
}

const QUOTE = /(?:[ \t]{0,4}>){1,12}[ \t]?/y;
// ANSI colour sequences and stray control characters left by serial consoles.
const CONTROL = /(?:\x1b\[[0-9;]{0,16}[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]){1,32}/y;

// `%b` in any locale: `Jan`, `Mär`, `paź`, `июл`, `déc.`, `12月`.
const MONTH = String.raw`(?:\p{L}{2,9}\.?|\d{1,2}[月월])`;
const CLOCK = String.raw`\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?`;
// `host kernel: `, `kernel[0]: `, journalctl --no-hostname `kernel: `, logread `kern.warn kernel: `.
const SOURCE = String.raw`(?:\S{1,255} )?(?:kernel|vmunix)(?:\[\d{1,10}\])?: `;
// syslog, kern.log, journalctl short/short-precise: `Jan  2 03:04:05 host kernel: `;
// OpenWrt logread: `Sun Sep  1 19:30:19 2019 kern.warn kernel: `.
const SYSLOG = new RegExp(String.raw` {0,2}(?:\p{L}{2,9}\.? )?${MONTH} {1,2}\d{1,2} ${CLOCK}(?: \d{4})? ${SOURCE}`, 'uy');
// journalctl short-iso/short-iso-precise/short-full, RFC 3339 syslog:
// `2023-01-02T03:04:05+0000 host kernel: `, `Mon 2023-01-02 03:04:05 CET host kernel: `.
const ISO_SYSLOG = new RegExp(
  String.raw`(?:\p{L}{2,9}\.? )?\d{4}-\d{2}-\d{2}[T ]${CLOCK}(?:Z|[+-]\d{2}:?\d{2}| [A-Z]{2,5}(?:[+-]\d{1,2})?)? ${SOURCE}`,
  'uy',
);
// journalctl -o short-unix: `1672628645.123456 host kernel: `.
const UNIX_SYSLOG = new RegExp(String.raw`\d{9,11}\.\d{1,9} ${SOURCE}`, 'y');
// `dmesg --time-format iso` puts the date where the bracketed timestamp would be.
const ISO_DMESG = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2},\d{6}[+-]\d{2}:\d{2} /y;
const FACILITY =
  /(?:kern|user|mail|daemon|auth|syslog|lpr|news|uucp|cron|authpriv|ftp|res0|res1|res2|res3|local[0-7]) {0,4}:(?:emerg|alert|crit|err|warn|notice|info|debug) {0,4}: /y;
const KMSG = /\d{1,3},\d{1,20},\d{1,20},[-c+][^;]{0,200};/y;
// A journal line cut down to its source (`kernel:  func+0x1/0x2`), as people paste them.
const BARE_SOURCE = / {0,4}kernel: /y;
const LEVEL = /<\d{1,3}>/y;
// `[  266.312345]`, and journalctl short-delta's `[  266.312345 <    0.000123>]`.
const TIMESTAMP = /\[ {0,12}(\d{1,10}\.\d{1,9})(?: <[ \d.]{1,24}>)?\]/y;
// `dmesg -T` (`[Mon Jan  2 03:04:05 2023]`) and `dmesg -H` (`[Jan 2 03:04]`, `[  +0.000123]`).
const CTIME = /\[(?:[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}|[A-Z][a-z]{2} {1,2}\d{1,2} \d{2}:\d{2}| {0,6}\+\d{1,9}\.\d{6})\]/y;
const CALLER = /\[ {0,10}([TC]\d{1,10})\]/y;
// journalctl -o short-monotonic: `[   12.345678] host kernel: …`, with --no-hostname `[   12.345678] kernel: …`.
const HOST_KERNEL = / ?(?:\S{1,255} )?kernel: /y;
const LOOSE_TIMESTAMP = /\[ {0,12}(\d{1,10}\.\d{1,9})\]/;
const NOISE_WINDOW = 256;

/** Splits text into lines, dropping the `\r` of CRLF (serial captures often end in `\r\r\n`). */
export function splitLines(text: string): string[] {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l.length > 0 && l.charCodeAt(l.length - 1) === 13) lines[i] = l.replace(/\r{1,64}$/, '');
  }
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Length of the match of a sticky `re` at `pos`, or 0. */
function at(re: RegExp, line: string, pos: number): number {
  re.lastIndex = pos;
  return re.test(line) ? re.lastIndex - pos : 0;
}

function exec(re: RegExp, line: string, pos: number): RegExpExecArray | null {
  re.lastIndex = pos;
  return re.exec(line);
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
/** charCodeAt that stays in bounds (-1 past the end): reading past the end deoptimizes V8's fast path. */
const code = (s: string, i: number): number => (i < s.length ? s.charCodeAt(i) : -1);

/** Where a syslog or journal header could end: it names the kernel within this many characters. */
const HEADER_WINDOW = 320;

/** A syslog/journal header or record header at `pos`: its length, or 0. */
function header(raw: string, pos: number): number {
  const c = code(raw, pos);
  // `[` (a printk timestamp) is by far the most common first character: nothing to try.
  if (c === 91 || c < 0) return 0;
  const k = raw.indexOf('kernel', pos);
  const named = (k >= 0 && k - pos < HEADER_WINDOW) || raw.startsWith('vmunix', raw.indexOf(' vmunix', pos) + 1);
  if (isDigit(c)) {
    if (!named) return at(ISO_DMESG, raw, pos) || at(KMSG, raw, pos);
    return at(ISO_SYSLOG, raw, pos) || at(ISO_DMESG, raw, pos) || at(KMSG, raw, pos) || at(UNIX_SYSLOG, raw, pos) || at(SYSLOG, raw, pos);
  }
  if (!named) {
    const colon = raw.indexOf(':', pos);
    return colon > pos && colon - pos <= 13 ? at(FACILITY, raw, pos) : 0;
  }
  return at(SYSLOG, raw, pos) || at(ISO_SYSLOG, raw, pos) || at(FACILITY, raw, pos) || at(BARE_SOURCE, raw, pos);
}

/** A printk timestamp `[  266.312345]` at `pos` (or short-delta's `[  266.312345 <    0.000123>]`). */
function timestampAt(raw: string, pos: number): { end: number; value: string } | undefined {
  let i = pos + 1;
  const limit = Math.min(raw.length, pos + 13);
  while (i < limit && code(raw, i) === 32) i++;
  const start = i;
  while (i < raw.length && i - start <= 10 && isDigit(code(raw, i))) i++;
  if (i === start || i - start > 10 || code(raw, i) !== 46) return undefined;
  const dot = i++;
  while (i < raw.length && i - dot <= 9 && isDigit(code(raw, i))) i++;
  if (i === dot + 1 || i - dot > 10) return undefined;
  const value = raw.slice(start, i);
  if (code(raw, i) === 93) return { end: i + 1, value };
  const m = exec(TIMESTAMP, raw, pos);
  return m ? { end: pos + m[0].length, value: m[1] } : undefined;
}

export function splitPrefix(raw: string): LinePrefix {
  let pos = 0;
  let quoteDepth = 0;
  const c0 = code(raw, 0);
  if (c0 === 62 || c0 === 32 || c0 === 9) {
    const q = at(QUOTE, raw, 0);
    if (q > 0) {
      for (let i = 0; i < q; i++) if (code(raw, i) === 62) quoteDepth++;
      pos = q;
    }
  }
  const quoteEnd = pos;
  const c1 = code(raw, pos);
  if ((c1 >= 0 && c1 < 32) || c1 === 127) pos += at(CONTROL, raw, pos);

  const h = header(raw, pos);
  let stamped = h > 0;
  pos += h;
  if (code(raw, pos) === 60) pos += at(LEVEL, raw, pos);

  let timestamp: string | undefined;
  let caller: string | undefined;
  let noise = false;
  let m = code(raw, pos) === 91 ? timestampAt(raw, pos) : undefined;
  if (!m && pos === 0) {
    // Serial consoles interleave user-space output with kernel lines
    // ("Segmentation fault[    0.761714] Hardware name: …"); find the timestamp behind it.
    const bracket = raw.indexOf('[', 1);
    const loose = bracket > 0 && bracket < NOISE_WINDOW ? LOOSE_TIMESTAMP.exec(raw.length > NOISE_WINDOW ? raw.slice(0, NOISE_WINDOW) : raw) : null;
    if (loose) {
      pos = loose.index;
      noise = true;
      m = timestampAt(raw, pos);
    }
  }
  if (m) {
    timestamp = m.value;
    pos = m.end;
    stamped = true;
  } else if (code(raw, pos) === 91) {
    const t = at(CTIME, raw, pos);
    pos += t;
    if (t > 0) stamped = true;
  }
  if (code(raw, pos) === 91) {
    const c = exec(CALLER, raw, pos);
    if (c) {
      caller = c[1];
      pos += c[0].length;
    }
  }
  if (timestamp !== undefined) {
    // short-monotonic: ` kernel: ` or ` host kernel: ` right after the timestamp.
    const from = code(raw, pos) === 32 ? pos + 1 : pos;
    const space = raw.indexOf(' ', from);
    if (raw.startsWith('kernel: ', from) || (space > from && space - from <= 255 && raw.startsWith('kernel: ', space + 1))) pos += at(HOST_KERNEL, raw, pos);
    // Leading `<N>` after the timestamp is how some consoles show the level.
    if (code(raw, pos) === 60) pos += at(LEVEL, raw, pos);
  }
  // printk puts exactly one space between the prefix and the message.
  if (pos > quoteEnd && code(raw, pos) === 32) pos += 1;
  return { body: pos === 0 ? raw : raw.slice(pos), bodyStart: pos, timestamp, caller, noise, stamped, quoteEnd, quoteDepth };
}
