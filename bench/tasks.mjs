#!/usr/bin/env node
// Tasks under QEMU: the task list and a sleeping task's stack through kdap's RSP overlay, against
// the kernel's own lx-ps, plain gdb reading the same fields, and two other ways to get a task's
// stack out of gdb; all on one stop of a guest with ~150 tasks.
//
//   list    kdap       the overlay's own walk over the stub (listTasks, one span read per task)
//           lx-ps      scripts/gdb/linux/tasks.py of the kernel source (6.1: task, pid, comm)
//           gdb-fields plain gdb (Python, lx-ps's task_lists()) reading pid, tgid, ppid, comm,
//                      __state, exit_state, flags, cpu, on_cpu of every task
//   stack   kdap       gdb unwinds the task thread the overlay presents (switch-frame registers)
//           frame-view gdb's `frame view SP PC` from the switch frame, then older frames
//           regwrite   write the switch frame into a CPU's registers, unwind, write them back
//   per stop          what `-thread-info` (a front end listing threads at each stop) costs with
//                      no task exposed and with every task exposed, in time and stub packets;
//                      and a session's stop (interrupt, thread list, the stopped thread's frames)
//                      with gdb straight on QEMU's gdbstub against through the overlay
//
// Every contender's output is checked: lists by row count, stacks by their function names
// against the overlay's (which test/e2e/tasks-rsp.test.ts checks against /proc/<pid>/stack).
//
// kgdb (the small kgdb kernels, ~130 tasks, 115200 baud on QEMU's emulated UART): plain gdb's
// `info threads` + `thread N` + `bt` against the overlay's list and one sleeping task's stack
// over the same line, in time and bytes on the line.
//   node bench/tasks.mjs [x86_64|arm64] [rounds]     (needs `npm run compile-tests`)
//   node bench/tasks.mjs kgdb [x86_64|arm64]
// Prints medians and ratios; never a pass/fail.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const out = (...p) => require(path.join(root, 'out', 'src', ...p));
const kgdbMode = process.argv[2] === 'kgdb';
const args = process.argv.slice(kgdbMode ? 3 : 2);
const arch = args[0] === 'arm64' ? 'arm64' : 'x86_64';
const rounds = Number(args[1] ?? 5);
const wantTasks = 150;
const cache = process.env.KDAP_CACHE ?? path.join(os.homedir(), '.cache', 'kdap');
const manifest = JSON.parse(fs.readFileSync(path.join(cache, 'fixtures.json'), 'utf8'));
const fx = manifest.arches[arch];
const { QemuProcess } = out('engine', 'qemu.js');
const { Engine } = out('engine', 'engine.js');
const { LiveTarget } = out('engine', 'live-target.js');
const { GdbstubConnection } = out('engine', 'gdbstub-connection.js');
const { DebugInfoSnapshot } = out('kernel', 'debug-info-snapshot.js');
const { overlayProbes, TaskOverlay } = out('rsp', 'overlay.js');
const { taskThreadId } = out('rsp', 'thread-id.js');
const { GuestConsole } = require(path.join(root, 'out', 'test', 'support', 'guest.js'));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => `${x.toFixed(1)} ms`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-bench-tasks-'));

// gdb-side helpers: each returns what it found, so the bench can check the work was done.
const PY = `
import gdb, json, sys
sys.path.insert(0, ${JSON.stringify(path.join(manifest.sourceRoot, 'scripts', 'gdb'))})
import linux.tasks
from linux.tasks import task_lists
X86 = ${arch === 'x86_64' ? 'True' : 'False'}
def kdap_names(f):
    names = []
    while f is not None and len(names) < 64:
        f.find_sal()
        names.append(f.name())
        try:
            f = f.older()
        except gdb.error:
            break
    return names
def kdap_plain_ps():
    n = 0
    for t in task_lists():
        row = (int(t['pid']), int(t['tgid']), int(t['real_parent']['tgid']), t['comm'].string(), int(t['__state']), int(t['exit_state']), int(t['flags']), int(t['thread_info']['cpu']), int(t['on_cpu']))
        n += 1
    print('rows=%d' % n)
def kdap_overlay_stack(tid):
    [t for t in gdb.selected_inferior().threads() if t.ptid[1] == tid][0].switch()
    print(json.dumps(kdap_names(gdb.newest_frame())))
def kdap_switch(task):
    t = gdb.parse_and_eval('(struct task_struct *)%d' % task)
    if X86:
        sp = t['thread']['sp']
        f = sp.cast(gdb.lookup_type('struct inactive_task_frame').pointer()).dereference()
        regs = {'rsp': int(sp) + f.type.sizeof, 'rip': int(f['ret_addr']), 'rbp': int(f['bp']), 'rbx': int(f['bx']), 'r12': int(f['r12']), 'r13': int(f['r13']), 'r14': int(f['r14']), 'r15': int(f['r15'])}
        return regs, regs['rsp'], regs['rip']
    c = t['thread']['cpu_context']
    regs = dict(('x%d' % (19 + i), int(c['x%d' % (19 + i)])) for i in range(10))
    regs.update({'x29': int(c['fp']), 'sp': int(c['sp']), 'pc': int(c['pc']), 'x30': int(c['pc'])})
    return regs, regs['sp'], regs['pc']
def kdap_frame_view(task, cpu_tid):
    [t for t in gdb.selected_inferior().threads() if t.ptid[1] == cpu_tid][0].switch()
    regs, sp, pc = kdap_switch(task)
    gdb.execute('frame view 0x%x 0x%x' % (sp, pc), to_string=True)
    print(json.dumps(kdap_names(gdb.selected_frame())))
def kdap_regwrite(task, cpu_tid):
    [t for t in gdb.selected_inferior().threads() if t.ptid[1] == cpu_tid][0].switch()
    regs, sp, pc = kdap_switch(task)
    saved = dict((r, int(gdb.parse_and_eval('$' + r))) for r in regs)
    try:
        for r, v in regs.items():
            gdb.execute('set var $%s = %d' % (r, v))
        print(json.dumps(kdap_names(gdb.newest_frame())))
    finally:
        for r, v in saved.items():
            gdb.execute('set var $%s = %d' % (r, v))
`;

async function timed(fn) {
  const t = process.hrtime.bigint();
  const result = await fn();
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, result };
}

async function main() {
  console.log(`tasks bench, ${arch}, ${rounds} rounds, kernel ${fx.release}`);
  const qemu = await QemuProcess.start({ kernel: fx.kernel, initrd: fx.initrd, append: fx.append, arch, gdb: true, startPaused: false });
  let engine;
  let overlay;
  try {
    const guest = new GuestConsole(qemu, manifest.guest.prompt);
    await guest.waitForPrompt(180_000);
    await guest.sh(`insmod ${fx.kmod.guestPath}`);
    if ((await guest.run('test -e /sys/module/kdap_test/parameters/tasks')).status !== 0) throw new Error('kdap_test.ko predates the tasks parameter: run scripts/fixtures.sh');
    await guest.sh('echo d > /sys/module/kdap_test/parameters/tasks');
    const dsleep = Number(/\d+/.exec(await guest.sh('cat /sys/module/kdap_test/parameters/tasks'))[0]);
    await guest.sh("(taskset -c 1 sh -c 'while :; do :; done' &)");
    const have = Number(/\d+/.exec(await guest.sh('ls -d /proc/[0-9]* | wc -l'))[0]);
    const extra = Math.max(0, wantTasks - have);
    await guest.sh(`i=0; while [ $i -lt ${extra} ]; do (sleep 100000 &); i=$((i+1)); done`, 120_000);
    const moduleText = /0x[0-9a-f]+/.exec(await guest.sh('cat /sys/module/kdap_test/sections/.text'))[0];

    engine = await Engine.start({ vmlinux: fx.vmlinux, arch, substitutePath: fx.substitutePath, sourceRoot: manifest.sourceRoot });
    await engine.gdb.console(`add-symbol-file ${fx.kmod.ko} ${moduleText}`, 60_000);
    const py = path.join(dir, 'tasks.py');
    fs.writeFileSync(py, PY);
    const live = new LiveTarget(engine.gdb, arch, { physical: () => 'stub' });
    const debugInfo = await DebugInfoSnapshot.record(live, ...overlayProbes);
    const socket = net.connect({ host: '127.0.0.1', port: Number(qemu.gdbAddress.split(':')[1]) });
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    overlay = new TaskOverlay({ arch, flavour: 'qemu', stub: socket, debugInfo });
    const stub = () => overlay.stubStats;
    await engine.connect(new GdbstubConnection(`127.0.0.1:${await overlay.listen()}`));
    await engine.gdb.console(`source ${py}`, 60_000);
    const gdbPy = async (call) => engine.gdb.console(`python ${call}`, 300_000);

    // ---- the list ----
    const list = { kdap: [], 'lx-ps': [], 'gdb-fields': [] };
    const first = {};
    const rows = {};
    const packets = {};
    const contenders = {
      kdap: async () => (await overlay.whileStopped(async () => (overlay.tasks.invalidate(), overlay.tasks.tasks()))).length,
      'lx-ps': async () => (await engine.gdb.console('lx-ps', 300_000)).trim().split('\n').length - 1,
      'gdb-fields': async () => Number(/rows=(\d+)/.exec(await gdbPy('kdap_plain_ps()'))[1]),
    };
    for (let r = 0; r <= rounds; r++) {
      for (const [name, run] of Object.entries(contenders)) {
        const before = stub().packetsOut;
        const { ms: t, result } = await timed(run);
        if (r === 0) first[name] = t;
        else list[name].push(t);
        rows[name] = result;
        packets[name] = stub().packetsOut - before;
      }
    }
    const tasks = await overlay.taskList();
    console.log(`\nlist of ${tasks.length} tasks (rows: ${Object.entries(rows).map(([k, v]) => `${k} ${v}`).join(', ')}; lx-ps and gdb-fields leave out the other CPUs' idle tasks)`);
    for (const name of Object.keys(list)) {
      console.log(`  ${name.padEnd(11)} first ${ms(first[name]).padStart(10)}  warm ${ms(median(list[name])).padStart(10)}  ${String(packets[name]).padStart(5)} stub packets  ×${(median(list[name]) / median(list.kdap)).toFixed(1)} kdap`);
    }

    // ---- one sleeping task's stack ----
    const cpuTid = Number(/^\d+/.exec((await engine.gdb.console('python print(gdb.selected_thread().ptid[1])')).trim())[0]);
    const sleepers = tasks.filter((t) => ['S', 'D', 'I'].includes(t.state) && !t.onCpu && t.pid > 0);
    const sample = [sleepers.find((t) => t.pid === dsleep), ...sleepers.filter((t) => t.pid !== dsleep).filter((_, i) => i % Math.ceil(sleepers.length / 9) === 0)].slice(0, 10);
    await engine.gdb.console(`monitor kdap tasks ${sample.map((t) => t.pid).join(' ')}`, 60_000);
    await engine.gdb.send('-thread-list-ids', [], 60_000);
    // frame-view last: gdb 13.1 dies of an internal error in it (inline_frame_sniffer, when the
    // pc is in an inlined function, as the switch frame's is), which ends the session.
    const ways = {
      kdap: (t) => gdbPy(`kdap_overlay_stack(${taskThreadId(t.pid, t.cpu)})`),
      regwrite: (t) => gdbPy(`kdap_regwrite(${t.task}, ${cpuTid})`),
      ...(process.env.KDAP_BENCH_FRAME_VIEW ? { 'frame-view': (t) => gdbPy(`kdap_frame_view(${t.task}, ${cpuTid})`) } : {}),
    };
    const stackTimes = {};
    const agree = {};
    const failed = {};
    const reference = new Map();
    for (const [name, run] of Object.entries(ways)) {
      stackTimes[name] = { cold: [], warm: [] };
      agree[name] = 0;
      for (const t of sample) {
        if (failed[name]) break;
        for (const phase of ['cold', 'warm']) {
          let took;
          let result;
          try {
            ({ ms: took, result } = await timed(() => run(t)));
          } catch (e) {
            failed[name] = `pid ${t.pid}: ${e.message.split('\n')[0]}`;
            break;
          }
          stackTimes[name][phase].push(took);
          const names = JSON.parse(result.trim().split('\n').pop());
          if (name === 'kdap') reference.set(t.pid, names);
          if (phase === 'warm' && JSON.stringify(names) === JSON.stringify(reference.get(t.pid))) agree[name]++;
        }
      }
    }
    console.log(`\none sleeping task's stack (${sample.length} tasks, kdap_dsleep among them; names compared with kdap's)`);
    for (const name of Object.keys(ways)) {
      const s = stackTimes[name];
      if (failed[name]) console.log(`  ${name.padEnd(11)} failed after ${s.warm.length} tasks: ${failed[name]}`);
      if (s.warm.length === 0) continue;
      console.log(`  ${name.padEnd(11)} first ${ms(median(s.cold)).padStart(10)}  warm ${ms(median(s.warm)).padStart(10)}  same frames as kdap ${agree[name]}/${sample.length}  ×${(median(s.warm) / median(stackTimes.kdap.warm)).toFixed(1)} kdap`);
    }
    const d = reference.get(dsleep);
    console.log(`  kdap_dsleep: ${d.join(' ← ')}`);

    // ---- what a stop costs ----
    if (!engine.gdb.running) {
      console.log('\nper stop: not measured, gdb is gone');
      return;
    }
    console.log('\nper stop: -thread-info (every thread with its top frame), after a fresh stop');
    for (const exposure of ['none', 'all']) {
      await engine.gdb.console(`monitor kdap tasks ${exposure}`, 60_000);
      const times = [];
      let count = 0;
      let stubPackets = 0;
      for (let r = 0; r < Math.min(rounds, 3); r++) {
        await engine.gdb.send('-exec-continue', [], 30_000);
        await new Promise((res) => setTimeout(res, 300));
        const stopped = new Promise((res) => {
          const on = (e) => {
            if (e.cls !== 'stopped') return;
            engine.gdb.off('exec', on);
            res();
          };
          engine.gdb.on('exec', on);
        });
        await engine.gdb.send('-exec-interrupt', [], 30_000);
        await stopped;
        const before = stub().packetsOut;
        const { ms: t, result } = await timed(() => engine.gdb.send('-thread-info', [], 600_000));
        times.push(t);
        count = result.results.threads?.length ?? 0;
        stubPackets = stub().packetsOut - before;
      }
      console.log(`  tasks ${exposure.padEnd(5)} ${String(count).padStart(4)} threads  ${ms(median(times)).padStart(10)}  ${String(stubPackets).padStart(5)} stub packets`);
    }

    // ---- a session's stop, straight to QEMU and through the overlay ----
    // Every debug session now goes through the overlay: what does that cost a stop? The same
    // front-end work (the thread list, the stopped thread's frames) with gdb connected each way.
    await engine.gdb.console('monitor kdap tasks none', 60_000);
    await engine.gdb.send('-target-detach', [], 30_000);
    await overlay.close();
    const routes = {
      direct: async () => qemu.gdbAddress,
      overlay: async () => {
        const s = net.connect({ host: '127.0.0.1', port: Number(qemu.gdbAddress.split(':')[1]) });
        await new Promise((resolve, reject) => s.once('connect', resolve).once('error', reject));
        overlay = new TaskOverlay({ arch, flavour: 'qemu', stub: s, debugInfo });
        return `127.0.0.1:${await overlay.listen()}`;
      },
    };
    const stops = {};
    for (const [name, address] of Object.entries(routes)) {
      await engine.connect(new GdbstubConnection(await address()));
      stops[name] = [];
      let frames = 0;
      for (let r = 0; r <= rounds; r++) {
        await engine.gdb.send('-exec-continue', [], 30_000);
        await new Promise((res) => setTimeout(res, 200));
        const { ms: t, result } = await timed(async () => {
          const stopped = new Promise((res) => {
            const on = (e) => {
              if (e.cls !== 'stopped') return;
              engine.gdb.off('exec', on);
              res(e.results);
            };
            engine.gdb.on('exec', on);
          });
          await engine.gdb.send('-exec-interrupt', [], 30_000);
          const at = await stopped;
          await engine.gdb.send('-thread-info', [], 60_000);
          const f = await engine.gdb.send('-stack-list-frames', ['--thread', String(at['thread-id'] ?? 1), '0', '19'], 60_000);
          return f.results.stack?.length ?? 0;
        });
        if (r > 0) stops[name].push(t);
        frames = result;
      }
      console.log(`${name === 'direct' ? '\nper stop: interrupt + -thread-info + the stopped thread\'s frames, as a session does\n' : ''}  ${name.padEnd(8)} ${ms(median(stops[name])).padStart(10)}  (${frames} frames)${name === 'overlay' ? `  ×${(median(stops.overlay) / median(stops.direct)).toFixed(2)} direct` : ''}`);
      await engine.gdb.send('-target-detach', [], 30_000);
    }
    overlay = undefined;
  } finally {
    await overlay?.close().catch(() => undefined);
    await engine?.gdb.stop().catch(() => undefined);
    await qemu.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function kgdbMain() {
  const k = manifest.kgdb?.[arch];
  if (!k) throw new Error('no kgdb kernels in fixtures.json: run scripts/fixtures-kgdb.sh');
  const support = require(path.join(root, 'out', 'test', 'e2e', 'tasks-support.js'));
  const { openLink, parseLinkSpec } = out('kgdb', 'link.js');
  const { KgdbProxy } = out('kgdb', 'proxy.js');
  const { kgdbGdbSettings } = out('engine', 'kgdb-target.js');
  console.log(`tasks bench over kgdb, ${arch}, kernel ${k.release}`);
  const b = await support.bootKgdb(arch, k, dir);
  const links = [];
  let proxy;
  let engine;
  let overlay;
  try {
    const guest = await support.consoleOn(b.consolePort, manifest.guest.prompt);
    await guest.sh(`insmod ${k.kmod.guestPath}`);
    await guest.sh('echo d > /sys/module/kdap_test/parameters/tasks');
    const dsleep = Number(/\d+/.exec(await guest.sh('cat /sys/module/kdap_test/parameters/tasks'))[0]);
    const moduleText = /0x[0-9a-f]+/.exec(await guest.sh('cat /sys/module/kdap_test/sections/.text'))[0];
    const have = Number(/\d+/.exec(await guest.sh('ls -d /proc/[0-9]* | wc -l'))[0]);
    await guest.sh(`i=0; while [ $i -lt ${Math.max(0, 130 - have)} ]; do (sleep 100000 &); i=$((i+1)); done`, 120_000);
    const tasksInGuest = Number(/\d+/.exec(await guest.sh('ls -d /proc/[0-9]* | wc -l'))[0]);
    guest.close();
    const link = await openLink(parseLinkSpec(`tcp:127.0.0.1:${b.kgdbPort}`));
    links.push(link);
    const consoleLink = b.shared ? undefined : await openLink(parseLinkSpec(`tcp:127.0.0.1:${b.consolePort}`));
    if (consoleLink) links.push(consoleLink);
    proxy = new KgdbProxy({ link, consoleLink, shareConsole: b.shared, breakIn: 'sysrq-trigger' });
    const proxyPort = await proxy.listen();
    const line = () => proxy.stats.rspIn + proxy.stats.consoleIn + proxy.stats.out;
    const measure = async (fn) => {
      const before = line();
      const { ms: t, result } = await timed(fn);
      return { ms: t, bytes: line() - before, result };
    };
    const startGdb = async () => {
      const e = await Engine.start({ vmlinux: k.vmlinux, arch, setupCommands: kgdbGdbSettings(arch, 120) });
      await e.gdb.console(`add-symbol-file ${k.kmod.ko} ${moduleText}`, 60_000);
      fs.writeFileSync(path.join(dir, 'tasks.py'), PY);
      return e;
    };
    const switchTo = (tid) => `python [t for t in gdb.selected_inferior().threads() if t.ptid[1] == ${tid}][0].switch()`;

    // plain gdb on the proxy's port
    await proxy.acquire(60_000);
    engine = await startGdb();
    const connectPlain = await measure(() => engine.connect(new GdbstubConnection(`127.0.0.1:${proxyPort}`)));
    const plainThreads = await measure(() => engine.gdb.console('info threads', 600_000));
    const plainBt = await measure(async () => {
      await engine.gdb.console(switchTo(dsleep), 600_000);
      return engine.gdb.console('bt', 600_000);
    });
    const threadRows = plainThreads.result.split('\n').filter((l) => /Thread \d+/.test(l)).length;
    await engine.gdb.send('-target-detach', [], 60_000);
    await engine.gdb.stop();

    // kdap: the overlay on the same port, after a new break-in
    await proxy.acquire(60_000);
    engine = await startGdb();
    const live = new LiveTarget(engine.gdb, arch, { physical: () => 'none' });
    const debugInfo = await DebugInfoSnapshot.record(live, ...overlayProbes);
    const socket = net.connect({ host: '127.0.0.1', port: proxyPort });
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    overlay = new TaskOverlay({ arch, flavour: 'kgdb', stub: socket, debugInfo, mergeGap: 64 });
    const connectKdap = await measure(async () => engine.connect(new GdbstubConnection(`127.0.0.1:${await overlay.listen()}`)));
    const list = await measure(() => overlay.taskList());
    const stack = await measure(async () => {
      await engine.gdb.console(switchTo(dsleep), 600_000);
      return engine.gdb.console('bt', 600_000);
    });
    const stackWarm = await measure(async () => {
      await engine.gdb.console(switchTo(dsleep), 600_000);
      return engine.gdb.console('bt', 600_000);
    });
    await engine.gdb.send('-target-detach', [], 60_000);

    const frames = (text) => text.split('\n').filter((l) => /^#\d+/.test(l)).length;
    const row = (name, m, what) => console.log(`  ${name.padEnd(34)} ${ms(m.ms).padStart(11)} ${String(m.bytes).padStart(8)} bytes  ${what}`);
    console.log(`\n${tasksInGuest} processes in the guest; bytes are everything on the kgdb line (packets, acks, console)`);
    row('plain gdb: target remote', connectPlain, '');
    row('plain gdb: info threads', plainThreads, `${threadRows} threads`);
    row('plain gdb: thread <kdap_dsleep> + bt', plainBt, `${frames(plainBt.result)} frames: ${/#0\s+(\S+ in )?(\S+)/.exec(plainBt.result)?.[2] ?? '?'} …`);
    row('kdap: target remote via the overlay', connectKdap, '');
    row('kdap: task list (overlay)', list, `${list.result.length} tasks`);
    row('kdap: thread <kdap_dsleep> + bt', stack, `${frames(stack.result)} frames`);
    row('kdap: the same again (warm)', stackWarm, `${frames(stackWarm.result)} frames`);
  } finally {
    await overlay?.close().catch(() => undefined);
    await engine?.gdb.stop().catch(() => undefined);
    await proxy?.close().catch(() => undefined);
    for (const l of links) await l.close().catch(() => undefined);
    await b.qemu.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

(kgdbMode ? kgdbMain() : main()).catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
