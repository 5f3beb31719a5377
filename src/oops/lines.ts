/**
 * Splitting a log into lines and peeling off everything a transport put in front of the
 * kernel's own text: mail quoting, syslog/journal headers, `dmesg -x` facility columns, printk
 * levels, `/dev/kmsg` record headers, timestamps and printk caller ids.
 *
 * Every pattern is anchored and every repetition bounded, so one line costs O(its length) even
 * for a 10 MB line of garbage.
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
}

const QUOTE = /^(?:[ \t]{0,4}>){1,12}[ \t]?/;
// ANSI colour sequences and stray control characters left by serial consoles.
const CONTROL = /^(?:\x1b\[[0-9;]{0,16}[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]){1,32}/;
const SYSLOG =
  /^[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}(?:\.\d{1,9})? \S{1,255} (?:kernel|vmunix)(?:\[\d{1,10}\])?: /;
const ISO_SYSLOG =
  /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})? \S{1,255} (?:kernel|vmunix)(?:\[\d{1,10}\])?: /;
// `dmesg --time-format iso` puts the date where the bracketed timestamp would be.
const ISO_DMESG = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2},\d{6}[+-]\d{2}:\d{2} /;
const FACILITY =
  /^(?:kern|user|mail|daemon|auth|syslog|lpr|news|uucp|cron|authpriv|ftp|res0|res1|res2|res3|local[0-7]) {0,4}:(?:emerg|alert|crit|err|warn|notice|info|debug) {0,4}: /;
const LEVEL = /^<\d{1,3}>/;
const KMSG = /^\d{1,3},\d{1,20},\d{1,20},[-c+][^;]{0,200};/;
const TIMESTAMP = /^\[ {0,12}(\d{1,10}\.\d{1,9})\]/;
const CTIME = /^\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}\]/;
const CALLER = /^\[ {0,10}([TC]\d{1,10})\]/;
// journalctl -o short-monotonic: `[   12.345678] host kernel: …`
const HOST_KERNEL = /^ ?\S{1,255} kernel: /;
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

function skip(re: RegExp, line: string, pos: number): number {
  const m = re.exec(pos === 0 ? line : line.slice(pos, pos + 512));
  return m ? pos + m[0].length : pos;
}

export function splitPrefix(raw: string): LinePrefix {
  let pos = 0;
  pos = skip(QUOTE, raw, pos);
  pos = skip(CONTROL, raw, pos);
  const head = (): string => raw.slice(pos, pos + 512);

  for (const re of [SYSLOG, ISO_SYSLOG, ISO_DMESG, FACILITY, KMSG]) {
    const m = re.exec(head());
    if (m) {
      pos += m[0].length;
      break;
    }
  }
  pos = skip(LEVEL, raw, pos);

  let timestamp: string | undefined;
  let caller: string | undefined;
  let noise = false;
  let m = TIMESTAMP.exec(head());
  if (!m && pos === 0) {
    // Serial consoles interleave user-space output with kernel lines
    // ("Segmentation fault[    0.761714] Hardware name: …"); find the timestamp behind it.
    const window = raw.slice(0, NOISE_WINDOW);
    const loose = LOOSE_TIMESTAMP.exec(window);
    if (loose) {
      pos = loose.index;
      noise = true;
      m = TIMESTAMP.exec(head());
    }
  }
  if (m) {
    timestamp = m[1];
    pos += m[0].length;
  } else {
    const c = CTIME.exec(head());
    if (c) pos += c[0].length;
  }
  const c = CALLER.exec(head());
  if (c) {
    caller = c[1];
    pos += c[0].length;
  }
  if (timestamp !== undefined) {
    const k = raw.indexOf(' kernel: ', pos);
    const h = k >= 0 && k - pos < 260 ? HOST_KERNEL.exec(head()) : null;
    if (h) pos += h[0].length;
    // Leading `<N>` after the timestamp is how some consoles show the level.
    pos = skip(LEVEL, raw, pos);
  }
  // printk puts exactly one space between the prefix and the message.
  if (pos > 0 && raw.charCodeAt(pos) === 32) pos += 1;
  return { body: pos === 0 ? raw : raw.slice(pos), bodyStart: pos, timestamp, caller, noise };
}
