/** Diagnostics, outline, folding and hovers computed from parsed fixture logs (no connection). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DiagnosticSeverity, SymbolKind, type MarkupContent } from 'vscode-languageserver/node';
import { diagnostics, documentSymbols, foldingRanges, hoverFor, TargetIndex } from '../../../src/server/features';
import { parseFixture, readLog } from '../oops/helpers';

const nullDeref = parseFixture('x86_64/null-deref.log');
const lkdtm = parseFixture('arm64/custom64k-cortexa57-lkdtm-WARNING-BUG-EXCEPTION-ACCESS_NULL-EXEC_DATA-then-sysrq-c.log');

describe('language features', () => {
  it('one diagnostic per report on its header, severity by kind, message = title', () => {
    const d = diagnostics(lkdtm);
    assert.equal(d.length, lkdtm.reports.length);
    assert.deepEqual(
      d.map((x) => [x.range.start.line, x.severity, x.code]),
      [
        [80, DiagnosticSeverity.Warning, 'warning'],
        [114, DiagnosticSeverity.Error, 'bug'],
        [148, DiagnosticSeverity.Warning, 'warning'],
        [180, DiagnosticSeverity.Error, 'null-deref'],
        [229, DiagnosticSeverity.Error, 'null-deref'],
        [279, DiagnosticSeverity.Error, 'oops'],
        [328, DiagnosticSeverity.Error, 'panic'],
      ],
    );
    const text = readLog('x86_64/null-deref.log').split('\n');
    const [only] = diagnostics(nullDeref);
    assert.equal(only.message, 'BUG: kernel NULL pointer dereference, address: 0000000000000028');
    assert.equal(text[only.range.start.line].slice(only.range.start.character, only.range.end.character), only.message);
  });

  it('outline: a report per entry, its sections as children', () => {
    const [s] = documentSymbols(nullDeref);
    assert.equal(s.kind, SymbolKind.Event);
    assert.deepEqual([s.range.start.line, s.range.end.line, s.selectionRange.start.line], [373, 422, 373]);
    assert.match(s.detail ?? '', /null-deref · x86_64 · CPU 1 · sh\[94\]/);
    assert.deepEqual(
      s.children?.map((c) => [c.name, c.detail, c.range.start.line]),
      [['Call Trace', '7 frames', 391]],
    );
  });

  it('folding: reports and multi-line sections', () => {
    const ranges = foldingRanges(parseFixture('public/docs-kasan-slab-out-of-bounds.log'));
    assert.deepEqual(
      ranges.map((r) => [r.startLine, r.endLine]),
      [
        [0, 69],
        [6, 19],
        [28, 40],
        [42, 54],
        [55, 60],
        [62, 68],
      ],
    );
  });

  it('hover on a frame: symbol, offset/size, module, reliability, section', () => {
    const targets = new TargetIndex(nullDeref);
    // Line 394 (0-based 393): "[    3.374037]  oopsmod_write.cold+0x5/0xa [oopsmod]"
    const t = targets.at(393, 20);
    assert.ok(t);
    const h = hoverFor(t);
    const md = (h.contents as MarkupContent).value;
    assert.match(md, /^`oopsmod_write\.cold\+0x5\/0xa \[oopsmod\]`/);
    assert.match(md, /offset 0x5 of 0xa bytes/);
    assert.match(md, /module `oopsmod`/);
    assert.match(md, /- reliable/);
    assert.match(md, /section \*Call Trace\*, context `TASK`/);
    assert.deepEqual(h.range, { start: { line: 393, character: 16 }, end: { line: 393, character: 52 } });
    const unreliable = hoverFor(targets.at(396, 20)!);
    assert.match((unreliable.contents as MarkupContent).value, /unreliable \(`\?`\)/);
    assert.equal(targets.at(393, 2), undefined, 'the timestamp is not a frame');
  });

  it('hover on RIP shows the register, not a frame', () => {
    const t = new TargetIndex(nullDeref).at(380, 30);
    assert.ok(t);
    const md = (hoverFor(t).contents as MarkupContent).value;
    assert.match(md, /register `pc`, segment `0010`/);
    assert.doesNotMatch(md, /section/);
  });

  it('a symbolizer’s answer is shown under the frame', () => {
    const t = new TargetIndex(nullDeref).at(393, 20)!;
    const h = hoverFor(t, [
      {
        object: 'oopsmod.ko',
        positions: [{ function: 'oopsmod_write', file: 'oopsmod.c', line: 41, column: undefined, inlined: false }],
      },
    ]);
    assert.match((h.contents as MarkupContent).value, /\*\*oopsmod\.ko\*\*\n- `oopsmod_write` at `oopsmod\.c:41`/);
  });
});
