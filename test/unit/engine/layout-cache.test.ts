import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LayoutCache } from '../../../src/engine/layout-cache';
import { parsePtype } from '../../../src/engine/live-target';

const ptype = `/* offset      |    size */  type = struct page {
/*      0      |       8 */    unsigned long flags;
/*      8: 0   |       1 */    u8 level : 3;
/*     16      |      16 */    struct list_head {
/*     16      |       8 */        struct list_head *next;
/*     24      |       8 */        struct list_head *prev;
                               } lru;
                               /* total size (bytes):   64 */
                             }
`;
const id = 'bb603a9147d3efe4744bf83c83eee397c591cc20';
const dir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-layouts-'));

test('a layout put in one session is what the next session with the same build id gets', async () => {
  const d = dir();
  const page = parsePtype(ptype, 'page')!;
  const first = (await LayoutCache.forBuildId(d, id))!;
  assert.equal(first.get('page'), undefined);
  first.put('page', page);
  first.put('folio_missing', undefined);
  await first.flush();
  const second = (await LayoutCache.forBuildId(d, id))!;
  assert.deepEqual(second.get('page'), page);
  assert.equal(second.get('folio_missing'), null, 'a struct the kernel lacks is remembered as absent');
  assert.equal(second.get('task_struct'), undefined);
  // Another vmlinux never sees it.
  assert.equal((await LayoutCache.forBuildId(d, 'ab'.repeat(20)))!.get('page'), undefined);
});

test('a corrupt, foreign or malformed file is ignored, and replaced at the next write', async () => {
  const d = dir();
  const file = path.join(d, 'kdap-layouts', `${id}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const good = { size: 8, members: [['flags', { offset: 0, size: 8, type: 'unsigned long' }]] };
  for (const text of [
    '{"format":1,"buildId":"' + id + '","structs":{"page":{"size":8,"memb', // cut short
    JSON.stringify({ format: 1, buildId: 'ab'.repeat(20), structs: { page: good } }), // another build's content
    JSON.stringify({ format: 999, buildId: id, structs: { page: good } }), // another format
    JSON.stringify({ format: 1, buildId: id, structs: { page: { size: 8, members: [['flags', { offset: -1, size: 8, type: 'x' }]] } } }),
    JSON.stringify({ format: 1, buildId: id, structs: { page: { size: '8', members: [] } } }),
    '\u0000\u0001garbage',
  ]) {
    fs.writeFileSync(file, text);
    const c = (await LayoutCache.forBuildId(d, id))!;
    assert.equal(c.get('page'), undefined, `served from ${text.slice(0, 60)}`);
  }
  const c = (await LayoutCache.forBuildId(d, id))!;
  c.put('page', parsePtype(ptype, 'page'));
  await c.flush();
  assert.equal((await LayoutCache.forBuildId(d, id))!.get('page')?.members.get('lru.next')?.offset, 16);
  assert.deepEqual(fs.readdirSync(path.dirname(file)), [`${id}.json`], 'no temporary file left behind');
});

test('no directory or an id that is not hex means no cache', async () => {
  assert.equal(await LayoutCache.open(undefined, '/nonexistent'), undefined);
  assert.equal(await LayoutCache.open(dir(), '/nonexistent/vmlinux'), undefined);
  assert.equal(await LayoutCache.forBuildId(dir(), '../x'), undefined);
});

test('the definitions the vmlinux facts are read from are kept per build id, and answer for their names', async () => {
  const d = dir();
  const first = (await LayoutCache.forBuildId(d, id))!;
  assert.equal(first.definitions(['modules']), undefined);
  const found = new Map([
    ['modules', { value: 0xffffffff82b273e0n, size: 16n, twice: false }],
    ['two_statics', { value: 0xffffffff82000010n, size: 8n, twice: true }],
    ['pcpu_hot', null],
  ]);
  first.define(found);
  await first.flush();
  const second = (await LayoutCache.forBuildId(d, id))!;
  assert.deepEqual(second.definitions(['modules', 'two_statics', 'pcpu_hot']), found);
  assert.equal(second.definitions(['modules', 'init_task']), undefined, 'one name not stored: the table is read');
  assert.equal(second.linked('modules'), 0xffffffff82b273e0n);
  assert.equal(second.linked('pcpu_hot'), null);
  assert.equal(second.linked('two_statics'), undefined, 'gdb decides between two statics');
  assert.equal((await LayoutCache.forBuildId(d, 'ab'.repeat(20)))!.definitions(['modules']), undefined, 'another build never sees them');
  // Entries that are not what was written are left out.
  const file = path.join(d, 'kdap-layouts', `${id}.json`);
  const bad = [{ at: 'modules', size: '0x10' }, { at: '0x1', size: 16 }, { at: '0x1', size: '0x1', twice: 'yes' }, '0x1', 7];
  fs.writeFileSync(file, JSON.stringify({ format: 1, buildId: id, structs: {}, definitions: Object.fromEntries(bad.map((b, i) => [`s${i}`, b])) }));
  const third = (await LayoutCache.forBuildId(d, id))!;
  for (let i = 0; i < bad.length; i++) assert.equal(third.definitions([`s${i}`]), undefined, JSON.stringify(bad[i]));
});
