import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bestEffort, ignore, swallowedErrors, type Swallowed } from '../../../src/engine/errors';

test('a swallowed error is published with where it happened; the caller gets its fallback', async () => {
  const seen: Swallowed[] = [];
  const listen = (m: unknown) => seen.push(m as Swallowed);
  swallowedErrors.subscribe(listen);
  try {
    assert.equal(await bestEffort(Promise.reject(new Error('Remote connection closed')), 'detaching', 'fallback'), 'fallback');
    assert.equal(await bestEffort(Promise.reject(new Error('no such symbol')), 'probing'), undefined);
    assert.equal(await bestEffort(Promise.resolve(7), 'reading'), 7);
    ignore('a string thrown', 'somewhere');
  } finally {
    swallowedErrors.unsubscribe(listen);
  }
  assert.deepEqual(seen, [
    { where: 'detaching', error: 'Remote connection closed' },
    { where: 'probing', error: 'no such symbol' },
    { where: 'somewhere', error: 'a string thrown' },
  ]);
  // Nobody listening: nothing is kept.
  await bestEffort(Promise.reject(new Error('unseen')), 'later');
  assert.equal(seen.length, 3);
});
