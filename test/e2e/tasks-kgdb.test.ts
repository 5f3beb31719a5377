/**
 * Sleeping tasks' stacks over kgdb, through kdap's RSP overlay in front of kdap's kgdb proxy,
 * with gdb driven directly, on the small kgdb kernels (scripts/fixtures-kgdb.sh).
 *
 * kgdb lists every task as a thread, but on x86_64 its registers for a sleeping task have
 * pc 0 (sleeping_thread_to_gdb_regs() fills sp and bp only): the test first asks kgdb itself
 * and sees that, then unwinds the same tasks through the overlay, which answers their
 * registers from the switch frame it finds through the pid's xarray.
 *
 * Oracles, independent of gdb: on x86_64 (no CONFIG_STACKTRACE, so no /proc/<pid>/stack, but
 * kdb) the kernel's own unwinder through kdb's `btp <pid>`; on arm64 /proc/<pid>/stack written
 * by the guest just before the break-in. Each is filtered as /proc/<pid>/stack is: no
 * scheduler or lock functions (by the vmlinux's section bounds), no `?` guesses.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Engine } from '../../src/engine/engine';
import { GdbstubConnection } from '../../src/engine/gdbstub-connection';
import { kgdbGdbSettings } from '../../src/engine/kgdb-target';
import { LiveTarget } from '../../src/engine/live-target';
import type { QemuProcess } from '../../src/engine/qemu';
import { openLink, parseLinkSpec, type KgdbLink } from '../../src/kgdb/link';
import { KgdbProxy } from '../../src/kgdb/proxy';
import { DebugInfoSnapshot } from '../../src/kernel/debug-info-snapshot';
import { readStruct, structLayout } from '../../src/kernel/struct';
import { RspClient } from '../../src/rsp/client';
import { overlayProbes, TaskOverlay } from '../../src/rsp/overlay';
import { decodeG, defaultLayout } from '../../src/rsp/registers';
import { loadFixtures } from '../support/fixtures';
import { bootKgdb, consoleOn, FRAMES_PY, functionName, kernelStyleFrames, parseTruth, TRUTH_AWK, type GdbFrame } from './tasks-support';

const fixtures = loadFixtures();

const only = process.env.KDAP_E2E_ARCH;
for (const arch of (['x86_64', 'arm64'] as const).filter((a) => !only || a === only)) {
  const k = fixtures.kgdb?.[arch];
  describe(`sleeping tasks over kgdb through the RSP overlay on ${arch}`, { concurrency: false, skip: k ? false : 'no kgdb kernels: run scripts/fixtures-kgdb.sh' }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `kdap-tasks-kgdb-${arch}-`));
    let qemu: QemuProcess | undefined;
    let proxy: KgdbProxy | undefined;
    let engine: Engine | undefined;
    let overlay: TaskOverlay | undefined;
    const links: KgdbLink[] = [];
    let pids: number[] = [];
    let dsleep = 0;
    let kgdbPc: bigint | undefined;
    let frames = new Map<number, GdbFrame[]>();
    const oracle = new Map<number, string[]>();
    const oracleText = new Map<number, string>();
    const ranSince: number[] = [];
    const schedRanges: Array<[bigint, bigint]> = [];
    let lineBytes = 0;

    before(async () => {
      const b = await bootKgdb(arch, k!, dir);
      qemu = b.qemu;
      // The guest is driven over a plain connection to its console first; kdap's kgdb proxy
      // takes the line(s) only for the break-in (QEMU's chardev takes one client at a time).
      const guest = await consoleOn(b.consolePort, fixtures.guest.prompt);
      await guest.sh(`insmod ${k!.kmod.guestPath}`);
      if ((await guest.run('test -e /sys/module/kdap_test/parameters/tasks')).status !== 0) throw new Error(`${k!.kmod.ko} predates kdap_test's tasks parameter: rebuild the fixtures from this checkout`);
      await guest.sh('echo d > /sys/module/kdap_test/parameters/tasks');
      dsleep = Number(/\d+/.exec(await guest.sh('cat /sys/module/kdap_test/parameters/tasks'))![0]);
      const moduleText = /0x[0-9a-f]+/.exec(await guest.sh('cat /sys/module/kdap_test/sections/.text'))![0];
      // kthreadd and sleeping kernel threads (S or I, children of kthreadd) next to kdap_dsleep
      // (D). Any of them may run between the truth and the stop, and those that did are left
      // out, so several are taken: two of three have been seen to run in that window.
      const ps = await guest.sh('ps -o pid,ppid,stat,comm');
      const sleepers = [...ps.matchAll(/^\s*(\d+)\s+2\s+[SI]\S*\s+\S+/gm)].map((m) => Number(m[1])).filter((p) => p !== dsleep);
      pids = [dsleep, 2, ...sleepers.slice(0, 5)];
      const procStack = (await guest.run('test -e /proc/self/stack')).status === 0;
      // The chosen tasks' truth, printed now; the switch counts at the stop show whether any ran since.
      const truth = procStack ? parseTruth(await guest.sh(TRUTH_AWK.replace('/proc/[0-9]*/task/[0-9]*/stat', pids.map((p) => `/proc/${p}/task/${p}/stat`).join(' ')), 120_000)) : undefined;

      guest.close();
      const link = await openLink(parseLinkSpec(`tcp:127.0.0.1:${b.kgdbPort}`));
      links.push(link);
      const consoleLink = b.shared ? undefined : await openLink(parseLinkSpec(`tcp:127.0.0.1:${b.consolePort}`));
      if (consoleLink) links.push(consoleLink);
      proxy = new KgdbProxy({ link, consoleLink, shareConsole: b.shared, breakIn: 'sysrq-trigger' });
      const proxyPort = await proxy.listen();
      await proxy.acquire(60_000);
      // kgdb's own answer for the D task, before the overlay: the problem it fixes.
      const direct = net.connect({ host: '127.0.0.1', port: proxyPort });
      await new Promise((resolve, reject) => direct.once('connect', resolve).once('error', reject));
      const client = new RspClient(direct, { timeoutMs: 60_000 });
      await client.ask(`Hg${dsleep.toString(16)}`);
      kgdbPc = decodeG(defaultLayout(arch), await client.ask('g')).get(arch === 'x86_64' ? 'rip' : 'pc');
      client.close();
      await new Promise((r) => setTimeout(r, 200));

      engine = await Engine.start({ vmlinux: k!.vmlinux, arch, setupCommands: kgdbGdbSettings(arch, 60) });
      await engine.gdb.console(`add-symbol-file ${k!.kmod.ko} ${moduleText}`, 60_000);
      const live = new LiveTarget(engine.gdb, arch, { physical: () => 'none' });
      const debugInfo = await DebugInfoSnapshot.record(live, ...overlayProbes);
      for (const [start, end] of [['__sched_text_start', '__sched_text_end'], ['__lock_text_start', '__lock_text_end']]) {
        const s = await live.symbol(start);
        const e = await live.symbol(end);
        if (s !== undefined && e !== undefined) schedRanges.push([s, e]);
      }
      const socket = net.connect({ host: '127.0.0.1', port: proxyPort });
      await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      const trace = process.env.KDAP_TRACE_OVERLAY;
      overlay = new TaskOverlay({ arch, flavour: 'kgdb', stub: socket, debugInfo, trace: trace ? (side, way, text) => fs.appendFileSync(trace, `${Date.now()} ${side} ${way} ${text.slice(0, 300)}\n`) : undefined });
      const before = proxy.stats.rspIn + proxy.stats.out;
      await engine.connect(new GdbstubConnection(`127.0.0.1:${await overlay.listen()}`));
      const script = path.join(dir, 'frames.py');
      fs.writeFileSync(script, FRAMES_PY);
      await engine.gdb.console(`source ${script}`);
      const out = path.join(dir, 'frames.json');
      await engine.gdb.console(`python kdap_dump_frames(${JSON.stringify(out)}, ${JSON.stringify(pids)})`, 600_000);
      lineBytes = proxy.stats.rspIn + proxy.stats.out - before;
      frames = new Map((JSON.parse(fs.readFileSync(out, 'utf8')) as Array<{ tid: number; frames: GdbFrame[] }>).map((t) => [t.tid, t.frames]));
      if (!procStack) {
        for (const pid of pids) {
          // kdb's output, as the stub sent it to gdb.
          let text = '';
          const collect = (t: string) => (text += t);
          overlay.on('output', collect);
          try {
            await engine.gdb.console(`monitor btp ${pid}`, 120_000);
          } finally {
            overlay.off('output', collect);
          }
          const names: string[] = [];
          for (const line of text.split('\n')) {
            const m = /^\s*(\?\s+)?([\w.]+)\+0x[0-9a-f]+\/0x[0-9a-f]+/.exec(line);
            if (!m || m[1]) continue;
            const name = functionName(m[2]);
            const at = BigInt(/0x[0-9a-f]+/.exec(await engine.gdb.console(`output/x (unsigned long)&'${name}'`))?.[0] ?? '0');
            if (!schedRanges.some(([s, e]) => at >= s && at < e)) names.push(name);
          }
          oracle.set(pid, names);
          oracleText.set(pid, text);
        }
      }
      const counts = new Map<number, number>();
      for (const pid of pids) {
        const task = await overlay.whileStopped(() => overlay!.tasks.byPid(pid));
        if (!task) continue;
        const v = await overlay.whileStopped(async () => readStruct(overlay!.target, task.task, await structLayout(overlay!.target, 'task_struct'), ['nvcsw', 'nivcsw']));
        counts.set(pid, Number(v.unsigned('nvcsw') + v.unsigned('nivcsw')));
      }
      await engine.gdb.send('-target-detach', [], 60_000);
      await overlay.close();
      await proxy.close();
      if (truth) {
        for (const pid of pids) {
          const want = truth.get(pid);
          if (want && counts.get(pid) === want.switches) oracle.set(pid, want.stack);
          else ranSince.push(pid);
        }
      }
    });

    after(async () => {
      await overlay?.close();
      await engine?.gdb.stop();
      await proxy?.close().catch(() => undefined);
      for (const l of links) await l.close().catch(() => undefined);
      await qemu?.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    if (arch === 'x86_64') {
      test('kgdb’s own registers of a sleeping task have pc 0', () => {
        assert.equal(kgdbPc, 0n);
      });
    }

    test('through the overlay, gdb unwinds each sleeping task as the kernel does', (t) => {
      t.diagnostic(`${pids.length} tasks, ${lineBytes} bytes on the kgdb line for the connect and their stacks; ran since the truth: ${ranSince.join(' ') || 'none'}`);
      assert.ok(oracle.size >= 2 && oracle.has(dsleep), `tasks compared: ${[...oracle.keys()].join(' ')}`);
      for (const pid of oracle.keys()) {
        const want = oracle.get(pid)!;
        assert.ok(want.length >= 2, `pid ${pid}: the oracle has ${JSON.stringify(want)} from ${JSON.stringify(oracleText.get(pid))}`);
        assert.deepEqual(kernelStyleFrames(arch, frames.get(pid) ?? [], schedRanges), want, `pid ${pid}: ${(frames.get(pid) ?? []).map((f) => f.name).join(' ← ')}`);
      }
      assert.deepEqual(oracle.get(dsleep)!.slice(0, 2), ['msleep', 'kdap_test_dsleep']);
    });
  });
}
