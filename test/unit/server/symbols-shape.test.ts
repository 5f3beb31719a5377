import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DocumentSymbol } from 'vscode-languageserver';
import { parseLog } from '../../../src/oops/parse';
import { documentSymbols } from '../../../src/server/features';

test('document symbols are valid LSP DocumentSymbols (the client checks with DocumentSymbol.is)', () => {
  const dir = path.join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'logs', 'x86_64');
  const file = fs.readdirSync(dir).find((f) => f.endsWith('.log'))!;
  const symbols = documentSymbols(parseLog(fs.readFileSync(path.join(dir, file), 'utf8')));
  assert.ok(symbols.length > 0);
  for (const s of symbols) {
    assert.ok(DocumentSymbol.is(s), `not a DocumentSymbol: ${JSON.stringify(s).slice(0, 200)}`);
    for (const c of s.children ?? []) assert.ok(DocumentSymbol.is(c), `child not a DocumentSymbol: ${JSON.stringify(c)}`);
  }
});
