import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ExpressionError, hasPerCpu, rewritePerCpu } from '../../../src/engine/expressions';

const noCpu = () => {
  throw new Error('the selected CPU was asked for without a this_cpu form');
};

describe('per-CPU accessors rewritten for gdb', () => {
  test('per_cpu(var, cpu) and member access after it', async () => {
    assert.equal(
      await rewritePerCpu('per_cpu(runqueues, 1).nr_running', noCpu),
      '(*(typeof(&(runqueues)))((char *)&(runqueues) + __per_cpu_offset[(1)])).nr_running',
    );
  });

  test('an expression as the CPU, nested parentheses in both arguments', async () => {
    assert.equal(
      await rewritePerCpu('per_cpu(((struct foo *)x)[2], (n + 1) % nr_cpu_ids)->y', noCpu),
      '(*(typeof(&(((struct foo *)x)[2])))((char *)&(((struct foo *)x)[2]) + __per_cpu_offset[((n + 1) % nr_cpu_ids)]))->y',
    );
    assert.equal(
      await rewritePerCpu('per_cpu(cpu_number, f(a, b))', noCpu),
      '(*(typeof(&(cpu_number)))((char *)&(cpu_number) + __per_cpu_offset[(f(a, b))]))',
    );
  });

  test('per_cpu_ptr(&var, cpu) keeps the pointer type', async () => {
    assert.equal(
      await rewritePerCpu('per_cpu_ptr(&kdap_test_percpu, 0)', noCpu),
      '((typeof(&kdap_test_percpu))((char *)(&kdap_test_percpu) + __per_cpu_offset[(0)]))',
    );
    assert.equal(
      await rewritePerCpu('*per_cpu_ptr(mod->percpu, 1)', noCpu),
      '*((typeof(mod->percpu))((char *)(mod->percpu) + __per_cpu_offset[(1)]))',
    );
  });

  test('this_cpu, this_cpu_read and this_cpu_ptr use the selected thread’s CPU, asked once', async () => {
    let asked = 0;
    const cpu1 = () => {
      asked++;
      return 1;
    };
    assert.equal(
      await rewritePerCpu('this_cpu(runqueues).curr->pid + this_cpu_read(cpu_number)', cpu1),
      '(*(typeof(&(runqueues)))((char *)&(runqueues) + __per_cpu_offset[1])).curr->pid + (*(typeof(&(cpu_number)))((char *)&(cpu_number) + __per_cpu_offset[1]))',
    );
    assert.equal(asked, 1);
    assert.equal(await rewritePerCpu('*this_cpu_ptr(&x)', async () => 0), '*((typeof(&x))((char *)(&x) + __per_cpu_offset[0]))');
    await assert.rejects(rewritePerCpu('this_cpu(x)', () => undefined), /needs the CPU of the selected thread/);
    await assert.rejects(rewritePerCpu('this_cpu(x)', () => -1), ExpressionError);
  });

  test('accessors nested inside accessors', async () => {
    assert.equal(
      await rewritePerCpu('per_cpu(x, per_cpu(cpu_number, 0))', noCpu),
      '(*(typeof(&(x)))((char *)&(x) + __per_cpu_offset[((*(typeof(&(cpu_number)))((char *)&(cpu_number) + __per_cpu_offset[(0)])))]))',
    );
  });

  test('strings, character literals, members and other names are left alone', async () => {
    for (const e of [
      'printk("per_cpu(x, 1)")',
      "c == ','",
      's.per_cpu(1, 2)',
      'p->per_cpu(1, 2)',
      'my_per_cpu(a, 1)',
      '$per_cpu(a, 1)',
      'per_cpu_offset',
      'runqueues.nr_running',
      '"\\"per_cpu(a,1)"',
    ]) {
      assert.equal(hasPerCpu(e), false, e);
      assert.equal(await rewritePerCpu(e, noCpu), e);
    }
    // A literal among the arguments is copied as it is, commas included.
    assert.equal(
      await rewritePerCpu("per_cpu(tab, ',' - 44)", noCpu),
      "(*(typeof(&(tab)))((char *)&(tab) + __per_cpu_offset[(',' - 44)]))",
    );
    assert.equal(await rewritePerCpu('a>per_cpu(x, 1)', noCpu), 'a>(*(typeof(&(x)))((char *)&(x) + __per_cpu_offset[(1)]))');
  });

  test('wrong argument counts and unclosed calls are errors that say what was expected', async () => {
    await assert.rejects(rewritePerCpu('per_cpu(runqueues)', noCpu), /per_cpu\(var, cpu\) takes 2 arguments/);
    await assert.rejects(rewritePerCpu('this_cpu(a, 1)', () => 0), /this_cpu\(var\) takes 1 argument,/);
    await assert.rejects(rewritePerCpu('per_cpu(a, 1', noCpu), /missing '\)'/);
    await assert.rejects(rewritePerCpu('per_cpu(a, 1]', noCpu), /unbalanced/);
    await assert.rejects(rewritePerCpu('per_cpu(, 1)', noCpu), ExpressionError);
  });
});
