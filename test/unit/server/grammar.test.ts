/**
 * The TextMate grammar, run by a small scanner with TextMate's rule (at each position the
 * earliest match wins, ties go to the first rule) on lines from real logs. The grammar keeps to
 * regex syntax that Oniguruma and JavaScript read the same way, so JS can stand in here.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../oops/helpers';

interface Rule {
  match?: string;
  begin?: string;
  end?: string;
  name?: string;
  captures?: Record<string, { name: string }>;
  beginCaptures?: Record<string, { name: string }>;
  patterns?: Rule[];
  include?: string;
}

interface Grammar {
  scopeName: string;
  patterns: Rule[];
  repository: Record<string, Rule>;
}

const grammar = JSON.parse(fs.readFileSync(path.join(repoRoot, 'syntaxes', 'kernel-log.tmLanguage.json'), 'utf8')) as Grammar;

function flatten(rules: Rule[]): Rule[] {
  return rules.flatMap((r) => {
    if (r.include) return flatten([grammar.repository[r.include.slice(1)]]);
    if (!r.match && !r.begin && r.patterns) return flatten(r.patterns);
    return [r];
  });
}

type Token = [text: string, scope: string];

function scopesOf(m: RegExpExecArray, rule: Rule, caps: Record<string, { name: string }> | undefined, out: Token[]): void {
  if (rule.name) out.push([m[0], rule.name.replace(/\.kernel-log$/, '')]);
  for (const [k, v] of Object.entries(caps ?? {})) {
    if (m[Number(k)] !== undefined) out.push([m[Number(k)], v.name.replace(/\.kernel-log$/, '')]);
  }
}

/** Tokens of one line: [matched text, scope] for every rule and capture that applied. */
function tokenize(line: string, rules = flatten(grammar.patterns)): Token[] {
  const out: Token[] = [];
  for (let pos = 0; pos < line.length; ) {
    let best: { m: RegExpExecArray; rule: Rule } | undefined;
    for (const rule of rules) {
      const re = new RegExp(rule.match ?? rule.begin!, 'gd');
      re.lastIndex = pos;
      const m = re.exec(line);
      if (m && (!best || m.index < best.m.index)) best = { m, rule };
    }
    if (!best || best.m[0].length === 0) break;
    const { m, rule } = best;
    if (rule.begin) {
      scopesOf(m, { name: rule.name }, rule.beginCaptures, out);
      // Every begin/end rule of this grammar ends at `$`: the rest of the line is its content.
      const rest = line.slice(m.index + m[0].length);
      out.push(...tokenize(rest, flatten(rule.patterns ?? [])));
      break;
    }
    scopesOf(m, rule, rule.captures, out);
    pos = m.index + m[0].length;
  }
  return out;
}

const scoped = (line: string, scope: string) => tokenize(line).filter(([, s]) => s.startsWith(scope)).map(([t]) => t);

describe('kernel-log TextMate grammar', () => {
  it('is valid JSON with the scope package.json names, and every regex compiles', () => {
    assert.equal(grammar.scopeName, 'text.log.kernel');
    const all = [...flatten(grammar.patterns), ...Object.values(grammar.repository).flatMap((r) => flatten(r.patterns ?? []))];
    for (const r of all) for (const src of [r.match, r.begin, r.end]) if (src) assert.doesNotThrow(() => new RegExp(src), src);
    const config = JSON.parse(fs.readFileSync(path.join(repoRoot, 'syntaxes', 'kernel-log.language-configuration.json'), 'utf8'));
    assert.ok(new RegExp(config.wordPattern).test('el0_svc_common.constprop.0'));
  });

  it('timestamps, caller ids and syslog prefixes', () => {
    assert.deepEqual(scoped('[   10.000001][  T100] Call Trace:', 'constant.numeric'), ['[   10.000001]', '[  T100]']);
    assert.deepEqual(scoped('Feb  1 02:06:55 ubuntu kernel: [82015.771452] Call Trace:', 'comment.line.syslog'), ['Feb  1 02:06:55 ubuntu kernel:']);
    assert.deepEqual(scoped('kern  :err   : [   1.0] x', 'invalid.illegal.level'), ['err']);
    // journalctl in other locales and output modes, OpenWrt logread, a bare `kernel:`.
    for (const [line, prefix] of [
      ['Mär 12 12:54:55 bpi-r2 kernel:  show_stack from dump_stack_lvl+0x48/0x54', 'Mär 12 12:54:55 bpi-r2 kernel:'],
      ['июл 27 14:08:04 laptop kernel: Call Trace:', 'июл 27 14:08:04 laptop kernel:'],
      ['Sep 06 23:00:03 kernel:  ? __x64_sys_ioctl+0xbb/0xf0', 'Sep 06 23:00:03 kernel:'],
      ['Sun Sep  1 19:30:19 2019 kern.warn kernel: [138620.534103] Call trace:', 'Sun Sep  1 19:30:19 2019 kern.warn kernel:'],
      ['2024-12-17T16:36:46+01:00 ds418 kernel: [  236.361520] x', '2024-12-17T16:36:46+01:00 ds418 kernel:'],
      ['kernel: [10102.727258] Call Trace:', 'kernel:'],
    ]) {
      assert.deepEqual(scoped(line, 'comment.line.syslog'), [prefix], line);
    }
    assert.deepEqual(scoped('[ 4899.499865] kernel: BUG: x', 'comment.line.syslog'), [' kernel:']);
    assert.deepEqual(scoped('[  +0.000004]  ? __warn+0x7d/0x130', 'constant.numeric.timestamp'), ['[  +0.000004]']);
  });

  it('arm traces: the running function before `from`, the caller as a frame', () => {
    const line = 'Jan 16 11:30:54 ptxdist kernel:  omap2_mcspi_setup [spi_omap2_mcspi] from spi_setup+0x124/0x4f8';
    assert.deepEqual(scoped(line, 'entity.name.function'), ['omap2_mcspi_setup', 'spi_setup']);
    assert.deepEqual(scoped(line, 'entity.name.namespace.module'), ['spi_omap2_mcspi']);
    const old = '[435222.430542] [<bfa0e748>] (l2cap_sock_teardown_cb [bluetooth]) from [<bfa01e9c>] (l2cap_chan_del+0x40/0x21c [bluetooth])';
    assert.deepEqual(scoped(old, 'entity.name.function'), ['l2cap_sock_teardown_cb', 'l2cap_chan_del']);
    assert.deepEqual(scoped('[    0.1] random: get_random_bytes called from start_kernel+0x3f0/0x5fc with crng_init=0', 'entity.name.function.callee'), []);
  });

  it('report headers by severity', () => {
    assert.deepEqual(scoped('[    3.371514] BUG: kernel NULL pointer dereference, address: 0000000000000028', 'invalid.illegal.header'), [
      'BUG: kernel NULL pointer dereference, address: 0000000000000028',
    ]);
    assert.deepEqual(scoped('Unable to handle kernel paging request at virtual address 00000000401c31ac', 'invalid.illegal.header').length, 1);
    assert.deepEqual(scoped('[    4.217869] Kernel panic - not syncing: Oops: Fatal exception', 'invalid.illegal.header').length, 1);
    assert.deepEqual(scoped('[    6.154025] WARNING: CPU: 1 PID: 1 at a.c:24 f+0x17/0x20 [m]', 'markup.changed.header').length, 1);
    assert.deepEqual(scoped('[    3.383690] ---[ end trace 0000000000000000 ]---', 'keyword.control.end-marker'), ['---[ end trace 0000000000000000 ]---']);
  });

  it('frames: unreliable mark, symbol, offset, size, module, build id, context markers', () => {
    const t = tokenize('[    3.374037]  ? oopsmod_write.cold+0x5/0xa [oopsmod 0123456789abcdef]');
    const by = (scope: string) => t.filter(([, s]) => s === scope).map(([x]) => x);
    assert.deepEqual(by('comment.line.unreliable'), ['?']);
    assert.deepEqual(by('entity.name.function'), ['oopsmod_write.cold']);
    assert.deepEqual([by('constant.numeric.offset'), by('constant.numeric.size')], [['+0x5'], ['/0xa']]);
    assert.deepEqual(by('entity.name.namespace.module'), ['oopsmod']);
    assert.deepEqual(by('constant.other.build-id'), ['0123456789abcdef']);
    assert.deepEqual(scoped('[    3.374037]  <TASK>', 'keyword.control.context'), ['<TASK>']);
    assert.deepEqual(scoped(' [<ffffffff8171ed09>] dump_stack+0x45/0x56', 'constant.numeric.address'), ['[<ffffffff8171ed09>]']);
  });

  it('registers: the name is a register, the location a symbol', () => {
    const t = tokenize('[    3.374037] RIP: 0010:oopsmod_do_oops+0x18/0x2b [oopsmod]');
    assert.deepEqual(t.filter(([, s]) => s === 'variable.other.register').map(([x]) => x), ['RIP: 0010:']);
    assert.deepEqual(t.filter(([, s]) => s === 'entity.name.function').map(([x]) => x), ['oopsmod_do_oops']);
    assert.deepEqual(scoped('x29: ffff800009ceb670 x28: ffff000003126920', 'variable.other.register'), ['x29', 'x28']);
  });

  it('Code: bytes with the trapping unit, x86 and arm64', () => {
    assert.deepEqual(scoped('Code: 48 8b 05 <8b> 78 28', 'invalid.illegal.trapping'), ['<8b>']);
    assert.deepEqual(scoped('[    6.627809] Code: 913da294 f90002ff (f9428aa3) ', 'invalid.illegal.trapping'), ['(f9428aa3)']);
    assert.deepEqual(scoped('Code: 48 8b 05 <8b> 78 28', 'constant.numeric.hex.code').length, 5);
  });

  it('task line, taint and modules', () => {
    const line = 'CPU: 1 PID: 94 Comm: sh Tainted: G           OE      6.1.0-50-cloud-amd64 #1';
    assert.deepEqual(scoped(line, 'string.unquoted.comm'), ['sh']);
    assert.deepEqual(scoped(line, 'constant.language.taint'), [' Tainted: G           OE']);
    assert.deepEqual(scoped('Modules linked in: oopsmod(OE) binfmt_misc brd', 'entity.name.namespace.module'), ['oopsmod', 'binfmt_misc', 'brd']);
  });

  it('already-decoded locations', () => {
    assert.deepEqual(scoped(' kbd_init (include/linux/workqueue.h:730 drivers/tty/vt/keyboard.c:1666)', 'string.unquoted.path'), [
      'include/linux/workqueue.h',
      'drivers/tty/vt/keyboard.c',
    ]);
    assert.deepEqual(scoped(' context_switch kernel/sched/core.c:5388 [inline]', 'comment.line.inline'), ['[inline]']);
  });
});
