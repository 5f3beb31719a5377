/** Which stops may be gdb's repeat of the breakpoint stop the last continue left from. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StopInfo } from '../../../src/engine/engine';
import { MAX_REPEATS, mayRepeat, type ResumePoint } from '../../../src/engine/repeated-stops';

const from: ResumePoint = { thread: 2, pc: 0xffffffff811399a0n, registers: '[]', repeats: 0 };
const stop = (over: Partial<StopInfo>): StopInfo => ({
  reason: 'breakpoint-hit',
  threadId: 2,
  breakpointNumber: 1,
  frame: { level: 0, address: 0xffffffff811399a0n },
  raw: {},
  ...over,
});

test('a breakpoint hit on the same thread and pc may be a repeat', () => {
  assert.equal(mayRepeat(stop({}), from), true);
  // Another breakpoint at the same place is the same stop as far as the vCPU goes.
  assert.equal(mayRepeat(stop({ breakpointNumber: 6 }), from), true);
});

test('anything else is a stop of its own', () => {
  assert.equal(mayRepeat(stop({}), undefined), false);
  assert.equal(mayRepeat(stop({ threadId: 1 }), from), false);
  assert.equal(mayRepeat(stop({ frame: { level: 0, address: 0xffffffff811399a4n } }), from), false);
  assert.equal(mayRepeat(stop({ reason: 'signal-received', signal: 'SIGINT' }), from), false);
  assert.equal(mayRepeat(stop({ reason: 'end-stepping-range' }), from), false);
});

test('at most MAX_REPEATS in a row are taken for repeats', () => {
  assert.equal(mayRepeat(stop({}), { ...from, repeats: MAX_REPEATS - 1 }), true);
  assert.equal(mayRepeat(stop({}), { ...from, repeats: MAX_REPEATS }), false);
});
