/**
 * Logs as people paste them: journalctl and syslog headers (any locale and output mode),
 * lines broken by a terminal or a mail client, arm traces, all real (sources in
 * test/fixtures/logs/README.md). Every stack line must be one frame: the frames are compared
 * with an independent reading of each file, a line-by-line regex that knows nothing of the
 * parser (one entry per line that shows `sym+0xoff/0xsize`, `from 0xADDR` or `[<addr>] 0xADDR`).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseLog } from '../../../src/oops/parse';
import type { Frame, ParsedLog } from '../../../src/oops/types';
import { readLog } from './helpers';

const SYM_REF = /([A-Za-z_.$][\w.$]*)\+0x([0-9a-f]+)\/0x([0-9a-f]+)/;
const FROM_ADDRESS = / from 0x([0-9a-f]+)$/;
const BARE_ADDRESS = /\[<[0-9a-f]+>\] 0x([0-9a-f]+)$/;
// Register lines name code locations too; a line starting `0010:` is a wrapped `RIP:` operand.
const REGISTER = /(?:RIP:|EIP:|PC is at|LR is at|\bpc : |\blr : |WARNING:|^\d{4}:)/;

/** The stack entries of a log text, one per line that shows one, read without the parser. */
function grepEntries(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const body = line.replace(/^.*? kernel: (?:\[[ \d.]+\] )?/, '');
    if (REGISTER.test(body)) continue;
    const s = SYM_REF.exec(body);
    if (s) {
      out.push(`${s[1]}+0x${s[2]}/0x${s[3]}`);
      continue;
    }
    const a = FROM_ADDRESS.exec(body) ?? BARE_ADDRESS.exec(body);
    if (a) out.push(`0x${a[1]}`);
  }
  return out;
}

function entry(f: Frame): string {
  if (f.symbol !== undefined && f.offset !== undefined && f.size !== undefined) return `${f.symbol}+0x${f.offset.toString(16)}/0x${f.size.toString(16)}`;
  return `0x${f.address?.toString(16)}`;
}

const frames = (log: ParsedLog): Frame[] => log.reports.flatMap((r) => r.frames);

/** Parses a sample and checks its frames against the independent reading; returns the parse. */
function sample(file: string, expected: number, prepare: (text: string) => string = (t) => t): { log: ParsedLog; lines: string[] } {
  const text = readLog(`public/${file}`);
  const log = parseLog(text);
  const grep = grepEntries(prepare(text));
  assert.equal(grep.length, expected, 'independent count');
  assert.deepEqual(frames(log).map(entry), grep);
  // Each frame points at its own text, on the physical line that holds it.
  const lines = text.split('\n');
  for (const f of frames(log)) {
    const at = lines[f.line - 1].slice(f.range.start, f.range.end);
    assert.ok(f.symbol === undefined ? at.includes(f.address!.toString(16)) : at.startsWith(f.symbol), `line ${f.line}: ${at}`);
  }
  return { log, lines };
}

/** Quoted-printable soft line breaks undone, as a mail reader would. */
const qp = (t: string): string => t.replace(/=\n/g, '');

describe('journalctl and syslog headers', () => {
  it('German month names, arm `callee from caller`, mail-wrapped and quoted', () => {
    const { log, lines } = sample('lkml-journal-de-arm32-quoted-wrapped.log', 62);
    assert.deepEqual(
      log.reports.map((r) => [r.kind, r.line, r.endLine, r.arch, r.frames.length, r.title]),
      [
        ['bug', 1, 119, 'arm', 31, 'BUG: scheduling while atomic: swapper/0/0/0x00000100'],
        ['stack-dump', 120, 233, 'arm', 31, 'bad: scheduling from the idle thread!'],
      ],
    );
    const r = log.reports[0];
    assert.deepEqual([r.cpu, r.pid, r.comm, r.release, r.hardware], [0, 0, 'swapper/0', '6.3.0-rc1-bpi-r2+', 'Mediatek Cortex-A7 (Device Tree)']);
    assert.equal(r.modules.length, 26);
    assert.deepEqual([r.modules[2], r.modules[13], r.modules[25]], ['cryptd', 'nfnetlink', 'x_tables']);
    // `schedule from` / `schedule_hrtimeout_range_clock+0xec/0x14c`: one entry, on the line of its caller.
    const f = r.frames.find((x) => x.callee === 'schedule')!;
    assert.equal(lines[f.line - 1], '> schedule_hrtimeout_range_clock+0xec/0x14c');
    assert.equal(lines[f.line - 1].slice(f.range.start, f.range.end), 'schedule_hrtimeout_range_clock+0xec/0x14c');
    const last = r.frames[r.frames.length - 1];
    assert.deepEqual([last.callee, last.symbol, last.address], ['start_kernel', undefined, 0n]);
  });

  it('journalctl lines wrapped by a mail client: arm modules on both sides of `from`', () => {
    const { log } = sample('lkml-journal-arm32-wrapped.log', 58);
    assert.deepEqual(
      log.reports.map((r) => [r.kind, r.line, r.frames.length, r.title, r.comm, r.pid, r.release]),
      [
        ['stack-dump', 5, 29, 'Division by zero in kernel.', '(udev-worker)', 161, '6.12.8'],
        ['stack-dump', 102, 29, 'Division by zero in kernel.', '(udev-worker)', 161, '6.12.8'],
      ],
    );
    const f = log.reports[0].frames.find((x) => x.callee === 'omap2_mcspi_setup_transfer')!;
    assert.deepEqual([f.symbol, f.module], ['omap2_mcspi_setup', 'spi_omap2_mcspi']);
    assert.equal(log.reports[0].hardware, 'Generic AM33XX (Flattened Device Tree)');
  });

  it('a raw mail: format=flowed wraps and quoted-printable soft breaks', () => {
    const { log } = sample('lkml-journal-x86-qp-wrapped.log', 29, qp);
    assert.equal(log.reports.length, 1);
    const r = log.reports[0];
    assert.equal(r.pc?.symbol, 'drm_suballoc_free');
    assert.equal(r.pc?.module, 'drm_suballoc_helper');
    assert.equal(r.code?.words.length, 64);
    assert.equal(r.code?.words[r.code.faultIndex], '4c');
    assert.equal(r.modules.length, 57);
    assert.equal(r.modules[56], 'drm', '`d=` / `rm`');
    const unreliable = r.frames.filter((f) => f.symbol === '__pfx_xe_vm_bind_ioctl');
    assert.deepEqual(unreliable.map((f) => [f.reliable, f.module]), [[false, 'xe'], [false, 'xe']], '`?` / `__pfx_…` joined');
    assert.equal(r.frames.find((f) => f.symbol === '__xe_pt_bind_vma')?.module, 'xe', '`[xe=` / `]`');
  });

  it('kern.log: syslog header, printk timestamp, arm 4.19 `(callee [mod]) from [<…>] (caller [mod])`', () => {
    const { log } = sample('github-kernlog-arm32-old-format.log', 9);
    const f = log.reports[0].frames;
    assert.deepEqual([f[4].callee, f[4].symbol, f[4].module, f[4].address], ['l2cap_sock_teardown_cb', 'l2cap_chan_del', 'bluetooth', 0xbfa01e9cn]);
    assert.equal(log.reports[0].arch, 'arm');
  });

  it('syslog with RFC 3339 time stamps (Synology), arm64 `[<…>]` frames and a bare address', () => {
    const { log } = sample('github-syslog-iso-arm64.log', 4);
    assert.equal(log.reports[0].ended, true);
    assert.equal(log.reports[0].arch, 'arm64');
  });

  it('OpenWrt logread', () => {
    sample('github-logread-arm64.log', 11);
  });

  it('lines cut down to `kernel: [ts] …`', () => {
    const { log } = sample('github-journal-kernel-prefix-x86.log', 5);
    assert.equal(log.reports[0].code?.unavailable, 'Unable to access opcode bytes at RIP 0xffffffffffffffd6.');
  });

  it('journalctl -o short-monotonic --no-hostname: the report head', () => {
    const { log } = sample('github-journal-monotonic-nohost-x86.log', 0);
    const r = log.reports[0];
    assert.deepEqual([r.kind, r.line, r.cpu, r.pid, r.comm, r.pc?.symbol, r.pc?.module], ['null-deref', 3, 0, 63589, 'systemd-udevd', 'hdac_hda_dev_probe', 'snd_soc_hdac_hda']);
    assert.equal(r.code?.words[r.code.faultIndex], '41');
  });

  it('journalctl --no-hostname', () => {
    const { log } = sample('github-journal-nohost-x86.log', 19);
    assert.ok(log.reports[0].frames.every((f) => !f.reliable));
  });

  it('Russian month names', () => {
    const { log } = sample('fedora-journal-ru-x86.log', 1);
    const r = log.reports[0];
    assert.deepEqual([r.kind, r.startLine, r.line, r.cpu, r.comm, r.taint, r.pc?.symbol], ['bug', 2, 3, 4, 'kswapd0', 'POE', '__list_del_entry_valid.cold']);
  });

  it('lines broken at a terminal width', () => {
    const { log } = sample('github-journal-terminal-wrapped-x86.log', 0);
    const r = log.reports[0];
    assert.equal(r.modules.length, 64);
    // Broken mid-word at the edge of the screen, and at a blank the copy lost.
    assert.ok(r.modules.includes('nf_conntrack_ipv6') && r.modules.includes('ebtable_filter'));
    assert.ok(r.modules.includes('libcrc32c') && r.modules.includes('virtio_console'));
    assert.deepEqual([r.pid, r.comm], [571, 'jbd2/vda1-8']);
  });
});

/** The entry each stack line of `text` stands for, from the capture the rendering was made of. */
function original(): string[] {
  return grepEntries(readLog('x86_64/kdap_test-oops.log'));
}

describe('the fixture Oops as journalctl and less show it (test/fixtures/logs/journal)', () => {
  for (const mode of ['short-monotonic', 'short-iso', 'short-precise', 'short-full', 'short-unix']) {
    it(`journalctl -o ${mode}`, () => {
      const text = readLog(`journal/kdap_test-oops.${mode}.log`);
      const log = parseLog(text);
      assert.deepEqual(frames(log).map(entry), grepEntries(text));
      assert.deepEqual(grepEntries(text), original());
      const r = log.reports[0];
      assert.deepEqual([log.reports.length, r.kind, r.comm, r.pid, r.pc?.symbol, r.pc?.module, r.code?.words.length], [1, 'null-deref', 'sh', 95, 'kdap_test_oops', 'kdap_test', 64]);
    });
  }

  // Lines cut short: `--no-full` (`…` in UTF-8, `...` in the C locale, the last characters kept
  // after it) and the pager (`>` in the last column). Each stack line is still one frame, and a
  // frame keeps only what the cut left whole.
  for (const mode of ['no-full-60', 'no-full-60-ascii', 'pager-62']) {
    it(`cut lines: ${mode}`, () => {
      const text = readLog(`journal/kdap_test-oops.${mode}.log`);
      const lines = text.split('\n');
      const trace = lines.slice(lines.findIndex((l) => l.endsWith('Call Trace:')) + 1, lines.findIndex((l) => l.endsWith('</TASK>')));
      // Stack lines are the indented ones (the registers of user space sit in the trace too).
      const stackLines = trace.filter((l) => /kernel: {2}\S/.test(l) && !l.endsWith('<TASK>'));
      const got = frames(parseLog(text));
      assert.equal(got.length, stackLines.length, 'one frame per stack line');
      assert.equal(got.length, 15);
      const full = original();
      let cut = 0;
      got.forEach((f, i) => {
        const [, symbol, offset, size] = /^(.*)\+0x([0-9a-f]+)\/0x([0-9a-f]+)$/.exec(full[i])!;
        const marked = /(?:…|\.\.\.|>)\S{0,3}$/.test(lines[f.line - 1]);
        assert.equal(f.truncated, marked, `line ${f.line}: cut mark`);
        if (!marked) return assert.equal(entry(f), full[i]);
        cut++;
        if (f.symbol !== undefined) assert.equal(f.symbol, symbol);
        if (f.offset !== undefined) assert.equal(f.offset.toString(16), offset);
        if (f.size !== undefined) assert.equal(f.size.toString(16), size);
      });
      assert.ok(cut >= 5, `${cut} cut frames`);
    });
  }
});
