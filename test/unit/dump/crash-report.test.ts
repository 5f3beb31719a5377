/** Why a dumped kernel stopped, from its log: the last fatal report and what led to it. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { crashOfLog } from '../../../src/dump/crash-report';

const sysrq = [
  '[    4.751778] sysrq: Trigger a crash',
  '[    4.752044] Kernel panic - not syncing: sysrq triggered crash',
  '[    4.752313] CPU: 1 PID: 1 Comm: init Kdump: loaded Tainted: G           OE      6.1.0-50-cloud-amd64 #1  Debian 6.1.176-1',
  '[    4.752613] Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014',
  '[    4.754489] Call Trace:',
  '[    4.754489]  <TASK>',
  '[    4.754489]  dump_stack_lvl+0x44/0x5c',
  '[    4.754489]  panic+0x118/0x2f4',
  '[    4.754489]  sysrq_handle_crash+0x16/0x20',
  '[    4.754489]  </TASK>',
].join('\n');

const oopsThenPanic = [
  '[   12.000000] BUG: kernel NULL pointer dereference, address: 0000000000000000',
  '[   12.000001] #PF: supervisor read access in kernel mode',
  '[   12.000002] Oops: 0000 [#1] PREEMPT SMP NOPTI',
  '[   12.000003] CPU: 0 PID: 94 Comm: sh Tainted: G           OE      6.1.0-50-cloud-amd64 #1',
  '[   12.000004] RIP: 0010:kdap_test_oops+0x5/0x10 [kdap_test]',
  '[   12.000005] Kernel panic - not syncing: Fatal exception',
].join('\n');

describe('crashOfLog', () => {
  it('a sysrq-c panic: the panic, its CPU and task', () => {
    const c = crashOfLog(sysrq);
    assert.ok(c);
    assert.equal(c.report.kind, 'panic');
    assert.equal(c.report.title, 'Kernel panic - not syncing: sysrq triggered crash');
    assert.equal(c.report.cpu, 1);
    assert.equal(c.report.pid, 1);
    assert.equal(c.cause, undefined);
  });

  it('an Oops that ends in a panic: the panic, caused by the Oops', () => {
    const c = crashOfLog(oopsThenPanic);
    assert.ok(c);
    assert.equal(c.report.kind, 'panic');
    assert.match(c.report.title, /Fatal exception/);
    assert.ok(c.cause);
    assert.match(c.cause.title, /BUG: kernel NULL pointer dereference/);
    assert.equal(c.cause.cpu, 0);
  });

  it('a healthy log has no crash; a warning is not one', () => {
    assert.equal(crashOfLog('[    1.0] kdap_test: init ok\n'), undefined);
    assert.equal(crashOfLog('[    1.0] WARNING: CPU: 0 PID: 1 at kernel/foo.c:12 foo+0x1/0x2\n[    1.1] CPU: 0 PID: 1 Comm: init Not tainted 6.1.0 #1\n'), undefined);
  });
});
