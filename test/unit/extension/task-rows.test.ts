import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PsRow } from '../../../src/adapter/protocol';
import { groupTasks, stateLetter, taskFilter } from '../../../src/extension/task-rows';

const row = (pid: number, tgid: number, comm: string, state: string, onCpu = false): PsRow => ({ pid, tgid, ppid: 1, comm, state, cpu: 0, onCpu, kernelThread: false, task: '0xffff888000001000' });
const tasks = [row(0, 0, 'swapper/0', 'R', true), row(1, 1, 'init', 'S'), row(100, 100, 'app', 'S'), row(102, 100, 'app-timer', 'S'), row(101, 100, 'app-io', 'D'), row(95, 95, 'sh', 'R', true), row(300, 299, 'orphan', 'S')];

describe('Tasks view rows', () => {
  test('a task on a CPU shows W, as ps does', () => {
    assert.deepEqual(tasks.map(stateLetter), ['W', 'S', 'S', 'S', 'D', 'W', 'S']);
  });

  test('threads go under their process; a thread without its leader stands alone', () => {
    const groups = groupTasks(tasks).map((g) => [g.task.pid, g.threads.map((t) => t.pid)]);
    assert.deepEqual(groups, [[0, []], [1, []], [100, [102, 101]], [95, []], [300, []]]);
  });

  test('the filter: pids (or thread groups), state letters, parts of names; all words must match', () => {
    const pids = (text: string) => tasks.filter(taskFilter(text)).map((t) => t.pid);
    assert.deepEqual(pids('100'), [100, 102, 101]);
    assert.deepEqual(pids('D'), [101]);
    assert.deepEqual(pids('W'), [0, 95]);
    assert.deepEqual(pids('APP timer'), [102]);
    assert.deepEqual(pids('app S'), [100, 102]);
    assert.deepEqual(pids(''), tasks.map((t) => t.pid));
  });
});
