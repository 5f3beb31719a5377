#!/usr/bin/env node
// Boots one dump-fixture guest under QEMU and records what it says about itself.
//   qemu mode:  waits for the guest's truths, stops it, asks the monitor for gva2gpa of a few
//               symbols and for every vCPU's registers, then dumps it in each format.
//   kdump mode: the guest panics and its capture kernel writes the dumps onto two raw disks.
// Everything is written under --out: truths.json, console.log and the dumps.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({
  options: {
    arch: { type: 'string' }, mode: { type: 'string' }, out: { type: 'string' }, qemu: { type: 'string' },
    machine: { type: 'string' }, cpu: { type: 'string' }, kernel: { type: 'string' }, initrd: { type: 'string' },
    append: { type: 'string' }, memory: { type: 'string', default: '512M' }, 'system-map': { type: 'string' },
    disk: { type: 'string', multiple: true, default: [] }, timeout: { type: 'string', default: '900' },
  },
});
const out = a.out;
fs.mkdirSync(out, { recursive: true });
const sock = path.join(out, 'monitor.sock');
fs.rmSync(sock, { force: true });
const args = [
  '-M', a.machine, '-cpu', a.cpu, '-accel', 'tcg', '-smp', '2', '-m', a.memory, '-nographic', '-no-reboot',
  '-serial', 'stdio', '-monitor', `unix:${sock},server,nowait`, '-device', 'vmcoreinfo',
  '-kernel', a.kernel, '-initrd', a.initrd, '-append', a.append,
];
a.disk.forEach((d, i) => args.push('-drive', `file=${d},if=none,format=raw,id=d${i}`, '-device', `virtio-blk-pci,drive=d${i}`));
const started = Date.now();
const log = (m) => console.log(`[dumps] ${a.arch}/${a.mode}: ${m} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
const qemu = spawn(a.qemu, args, { stdio: ['pipe', 'pipe', 'pipe'] });
let text = '';
const waiters = [];
qemu.stdout.on('data', (d) => {
  text += d.toString('latin1').replace(/\r/g, '');
  for (const w of [...waiters]) if (w.re.test(text)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
});
let stderr = '';
qemu.stderr.on('data', (d) => (stderr += d));
let exited = false;
const exit = new Promise((r) => qemu.on('exit', (code, sig) => { exited = true; r({ code, sig }); }));
const killTimer = setTimeout(() => { log('timed out'); qemu.kill('SIGKILL'); }, Number(a.timeout) * 1000);
const fail = (m) => {
  fs.writeFileSync(path.join(out, 'console.log'), text);
  qemu.kill('SIGKILL');
  console.error(`[dumps] ${a.arch}/${a.mode}: ${m}\n--- console tail ---\n${text.slice(-3000)}\n--- qemu stderr ---\n${stderr}`);
  process.exit(1);
};
const waitFor = (re) => new Promise((resolve, reject) => {
  if (re.test(text)) return resolve();
  waiters.push({ re, resolve });
  exit.then(() => reject(new Error(`QEMU exited before ${re}`)));
});

/** One HMP command on a fresh monitor connection; resolves with its output. */
function monitor(command) {
  return new Promise((resolve, reject) => {
    const c = net.createConnection(sock);
    let buf = '';
    let sent = false;
    c.on('data', (d) => {
      buf += d.toString('latin1');
      const clean = buf.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
      const prompts = clean.split('(qemu) ').length - 1;
      if (!sent && prompts >= 1) { sent = true; c.write(command + '\n'); }
      else if (sent && prompts >= 2) {
        c.end();
        const body = clean.slice(clean.indexOf('(qemu) ') + 7);
        resolve(body.slice(body.indexOf('\n') + 1, body.lastIndexOf('(qemu) ')).trim());
      }
    });
    c.on('error', reject);
    // `quit` (and a QEMU that dies) closes the socket without another prompt.
    c.on('close', () => resolve(buf.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '')));
  });
}

function parseTruths() {
  const begin = text.indexOf('KDAP-TRUTH-BEGIN');
  const end = text.indexOf('KDAP-TRUTH-END');
  const lines = text.slice(begin, end).split('\n').slice(1).filter((l) => l.length);
  const t = { arch: a.arch, mode: a.mode, memory: a.memory, append: a.append, uname: '', banner: '', tasks: [], modules: [], sections: {}, dmesg: [] };
  const tasks = new Map();
  for (const l of lines) {
    const [tag, ...rest] = l.split(' ');
    const body = rest.join(' ');
    if (tag === 'UNAME') t.uname = body;
    else if (tag === 'BANNER') t.banner = body;
    else if (tag === 'STAT') {
      const m = /^(\d+) \((.*)\) (\S) (-?\d+)/.exec(body);
      if (!m) continue;
      const f = body.slice(body.lastIndexOf(')') + 2).split(' ');
      const task = { pid: Number(m[1]), comm: m[2], state: m[3], ppid: Number(m[4]), cpu: Number(f[36]), stat: body, stack: [] };
      tasks.set(task.pid, task);
      t.tasks.push(task);
    } else if (tag === 'SWITCHES') {
      const task = tasks.get(Number(rest[0]));
      if (task) task.switches = Number(rest[1]);
    } else if (tag === 'STACK') tasks.get(Number(rest[0]))?.stack.push(rest.slice(1).join(' '));
    else if (tag === 'MODULE') t.modules.push(body);
    else if (tag === 'SECTION') t.sections[rest[0]] = rest[1];
    else if (tag === 'DMESG') t.dmesg.push(body);
  }
  return t;
}

function symbols(names) {
  const want = new Set(names);
  const found = {};
  for (const line of fs.readFileSync(a['system-map'], 'utf8').split('\n')) {
    const [addr, , name] = line.split(' ');
    if (want.has(name) && !found[name]) found[name] = `0x${addr}`;
  }
  return found;
}

try {
  await waitFor(/KDAP-TRUTH-END/);
  log('guest printed its truths');
  const truths = parseTruths();
  if (/KDAP-FAIL/.test(text)) fail(text.match(/KDAP-FAIL.*/)[0]);
  if (a.mode === 'qemu') {
    await waitFor(/KDAP-DUMP-READY/);
    await monitor('stop');
    truths.gva2gpa = {};
    const addrs = symbols(['linux_banner', 'init_uts_ns', 'prb', 'modules', 'init_task', a.arch === 'x86_64' ? 'init_top_pgt' : 'swapper_pg_dir', 'jiffies_64']);
    if (truths.sections['.text']) addrs['kdap_test:.text'] = truths.sections['.text'];
    if (truths.sections['.data']) addrs['kdap_test:.data'] = truths.sections['.data'];
    for (const [name, va] of Object.entries(addrs)) {
      const r = await monitor(`gva2gpa ${va}`);
      const m = /gpa:\s*(0x[0-9a-f]+)/i.exec(r);
      truths.gva2gpa[name] = { va, pa: m ? m[1] : null, monitor: r };
    }
    truths.registers = [];
    const regs = await monitor('info registers -a');
    for (const block of regs.split(/\n(?=CPU#\d+)/)) {
      const cpu = /CPU#(\d+)/.exec(block);
      if (!cpu) continue;
      const pick = (re) => { const m = re.exec(block); return m ? `0x${BigInt(`0x${m[1]}`).toString(16)}` : null; };
      truths.registers.push(a.arch === 'x86_64'
        ? { cpu: Number(cpu[1]), pc: pick(/RIP=([0-9a-f]+)/), sp: pick(/RSP=([0-9a-f]+)/), cr3: pick(/CR3=([0-9a-f]+)/), raw: block }
        : { cpu: Number(cpu[1]), pc: pick(/PC=([0-9a-f]+)/), sp: pick(/\bSP=([0-9a-f]+)/) ?? pick(/SP_EL1=([0-9a-f]+)/), raw: block });
    }
    // QEMU 7.2 writes kdump-compressed output in the flattened form; Debian builds it with
    // zlib only (-l and -s say "not available"), which is recorded and skipped.
    const formats = [['elf', ''], ['elf-paging', '-p'], ['qemu-zlib', '-z'], ['qemu-lzo', '-l'], ['qemu-snappy', '-s']];
    truths.dumps = {};
    for (const [name, flag] of formats) {
      const file = path.join(out, `${name}.${name.startsWith('elf') ? 'elf' : 'flat'}`);
      fs.rmSync(file, { force: true });
      const t0 = Date.now();
      const r = await monitor(`dump-guest-memory ${flag} ${file}`.replace('  ', ' '));
      if (/error|not available/i.test(r)) {
        log(`dump-guest-memory ${flag}: ${r}`);
        truths.dumps[name] = { unavailable: r };
        continue;
      }
      // HMP may return before the file is complete: wait for "completed" and a settled size.
      for (let i = 0; i < 600; i++) {
        const status = await monitor('info dump');
        if (/completed/.test(status) || !/active/.test(status)) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      let size = -1;
      for (;;) {
        const now = fs.existsSync(file) ? fs.statSync(file).size : -1;
        if (now === size && now > 0) break;
        size = now;
        await new Promise((r) => setTimeout(r, 300));
      }
      truths.dumps[name] = { file: path.basename(file), bytes: size, seconds: (Date.now() - t0) / 1000 };
      log(`${name}: ${size} bytes in ${truths.dumps[name].seconds} s`);
    }
    await monitor('quit').catch(() => undefined);
  } else {
    await waitFor(/KDAP-PANIC-NOW/);
    log('guest panicked');
    await waitFor(/KDAP-CAPTURE-DONE|Kernel panic - not syncing: .*capture|end Kernel panic/);
    if (!/KDAP-CAPTURE-DONE/.test(text.slice(text.indexOf('KDAP-PANIC-NOW')))) fail('the capture kernel did not finish');
    truths.capture = text.slice(text.indexOf('KDAP-PANIC-NOW')).split('\n').filter((l) => /KDAP-CAPTURE/.test(l));
    // The first kernel's last words: the panic as the console showed it.
    const panic = text.slice(text.indexOf('KDAP-PANIC-NOW'));
    truths.panicConsole = panic.slice(0, panic.search(/\n.*Linux version/) >>> 0 || 4000).split('\n').slice(1, 60);
    await exit;
  }
  fs.writeFileSync(path.join(out, 'truths.json'), JSON.stringify(truths, null, 2) + '\n');
  fs.writeFileSync(path.join(out, 'console.log'), text);
  if (!exited) await Promise.race([exit, new Promise((r) => setTimeout(r, 10000))]);
  if (!exited) qemu.kill('SIGKILL');
  clearTimeout(killTimer);
  fs.rmSync(sock, { force: true });
  log('done');
} catch (e) {
  fail(e.message);
}
