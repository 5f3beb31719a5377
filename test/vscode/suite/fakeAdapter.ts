/**
 * A small debug adapter on a TCP port that plays a stopped two-CPU arm64 kernel: enough DAP
 * for VS Code to start, show and end a session, plus canned answers to the kdap/* requests.
 * The extension reaches it through `debugServer` in a configuration, so the tests exercise
 * the extension's real request path without QEMU or gdb. Runs in the extension host (mocha
 * suite) and in plain Node (the UI scenarios in run.mjs).
 */
import * as net from 'node:net';
import type { CustomRequests } from '../../../src/adapter/protocol';

export interface DapRequest {
  seq: number;
  command: string;
  arguments?: Record<string, unknown>;
}

export interface FakeAdapterOptions {
  /** Answer kdap/* requests (default) or reject them the way an adapter without handlers does. */
  kdapRequests?: boolean;
}

export const sampleCpus: CustomRequests['kdap/cpus']['result'] = {
  cpus: [
    {
      cpu: 0,
      threadId: 1,
      state: 'idle',
      mode: 'kernel',
      task: { comm: 'swapper/0', pid: 0, address: '0xffff800081a1c5c0' },
      pc: '0xffff80008000f1a4',
      function: 'cpu_do_idle',
      file: 'arch/arm64/kernel/idle.c',
      line: 32,
      preemptCount: 0,
      irqsDisabled: true,
      nrRunning: 0,
      perCpuOffset: '0xffff00003f6c9000',
    },
    {
      cpu: 1,
      threadId: 2,
      state: 'running',
      mode: 'kernel',
      task: { comm: 'insmod', pid: 123, address: '0xffff000002b48000' },
      pc: '0xffff800000f80048',
      function: 'trigger_init+0x48',
      preemptCount: 1,
      irqsDisabled: false,
      nrRunning: 2,
      perCpuOffset: '0xffff00003f6e7000',
    },
  ],
};

export const sampleModules: CustomRequests['kdap/modules']['result'] = {
  modules: [
    {
      name: 'test_fault',
      state: 'live',
      base: '0xffff800000f80000',
      size: 16384,
      sections: { '.text': '0xffff800000f80000', '.data': '0xffff800000f82000', '.bss': '0xffff800000f82400' },
      symbolFile: '/lib/modules/6.1.0-kdap/extra/test_fault.ko',
    },
    { name: 'hello', state: 'coming', base: '0xffff800000f90000', size: 8192, sections: {}, symbolFile: null },
  ],
};

export const sampleBoot = 'Booting Linux on physical CPU 0x0000000000 [0x411fd070]\nLinux version 6.1.0-kdap\n';

/** Hover answers as kdap's adapter decorates them (src/adapter/hover.ts). */
export const sampleHovers: Record<string, { result: string; type: string; variablesReference: number; memoryReference?: string }> = {
  'init_mm.pgd': {
    result: '0xffff800081ad0000 <swapper_pg_dir>  ·  → phys 0x41ad0000, 4 KiB page: kernel R--, user ---, Normal WB, inner shareable, global',
    type: 'pgd_t *',
    variablesReference: 0,
    memoryReference: '0xffff800081ad0000',
  },
  pte: {
    result: '{pte = 0x68000061020713}  ·  L3/PTE page → phys 0x61020000: kernel RW-, user ---, Device-nGnRE, inner shareable, global, dirty',
    type: 'pte_t',
    variablesReference: 5,
  },
};

export function sampleWalk(va: string): CustomRequests['kdap/walk']['result'] {
  return {
    va: va.startsWith('0x') ? (va as `0x${string}`) : '0xffff000061020000',
    phys: '0x61020000',
    pageSize: 65536,
    levels: [
      { level: 'PGD', linuxLevel: 'PGD', index: 60, entryAddress: '0xffff800081ad01e0', entryPhysical: '0x41ad01e0', raw: '0x000000007fff0003', descriptor: 'table', flags: ['TABLE'], next: '0x7fff0000', leaf: false },
      { level: 'PMD', linuxLevel: 'PMD', index: 1, entryAddress: '0xffff00007fff0008', entryPhysical: '0x7fff0008', raw: '0x000000007ffe0003', descriptor: 'table', flags: ['TABLE'], next: '0x7ffe0000', leaf: false },
      {
        level: 'PTE',
        linuxLevel: 'PTE',
        index: 258,
        entryAddress: '0xffff00007ffe0810',
        entryPhysical: '0x7ffe0810',
        raw: '0x0068000061020713',
        descriptor: 'page',
        flags: ['VALID', 'PAGE', 'AF', 'SH=inner', 'AP=RW_EL1', 'PXN', 'UXN', 'AttrIndx=4 (Normal)'],
        leaf: true,
      },
    ],
    fault: null,
    summary: 'Kernel RW data, normal memory, 64 KiB page',
  };
}

export class FakeAdapter {
  readonly requests: DapRequest[] = [];
  private readonly sockets = new Set<net.Socket>();
  private waiters: { command: string; resolve: (r: DapRequest) => void }[] = [];

  private constructor(
    private readonly server: net.Server,
    private readonly options: FakeAdapterOptions,
  ) {}

  static async start(options: FakeAdapterOptions = {}): Promise<FakeAdapter> {
    const server = net.createServer();
    const adapter = new FakeAdapter(server, options);
    server.on('connection', (s) => adapter.serve(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return adapter;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** The first request named `command` (already received or still to come). */
  waitFor(command: string, timeoutMs = 10_000): Promise<DapRequest> {
    const seen = this.requests.find((r) => r.command === command);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${command} request within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        command,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
    });
  }

  count(command: string): number {
    return this.requests.filter((r) => r.command === command).length;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private serve(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => this.sockets.delete(socket));
    let buffer = Buffer.alloc(0);
    let seq = 1;
    const send = (message: Record<string, unknown>) => {
      const body = Buffer.from(JSON.stringify({ seq: seq++, ...message }), 'utf8');
      socket.write(`Content-Length: ${body.length}\r\n\r\n`);
      socket.write(body);
    };
    const respond = (req: DapRequest, body: unknown = {}) =>
      send({ type: 'response', request_seq: req.seq, command: req.command, success: true, body });
    const fail = (req: DapRequest, text: string) =>
      send({
        type: 'response',
        request_seq: req.seq,
        command: req.command,
        success: false,
        message: text,
        body: { error: { id: 1014, format: text } },
      });
    const event = (name: string, body: unknown = {}) => send({ type: 'event', event: name, body });

    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const headerEnd = buffer.indexOf('\r\n\r\n');
        if (headerEnd < 0) return;
        const length = Number(/Content-Length: *(\d+)/i.exec(buffer.subarray(0, headerEnd).toString('ascii'))?.[1]);
        if (buffer.length < headerEnd + 4 + length) return;
        const req = JSON.parse(buffer.subarray(headerEnd + 4, headerEnd + 4 + length).toString('utf8')) as DapRequest;
        buffer = buffer.subarray(headerEnd + 4 + length);
        this.record(req);
        this.answer(req, { respond, fail, event, end: () => socket.end() });
      }
    });
  }

  private record(req: DapRequest): void {
    this.requests.push(req);
    const ready = this.waiters.filter((w) => w.command === req.command);
    this.waiters = this.waiters.filter((w) => w.command !== req.command);
    for (const w of ready) w.resolve(req);
  }

  private answer(
    req: DapRequest,
    io: {
      respond: (req: DapRequest, body?: unknown) => void;
      fail: (req: DapRequest, text: string) => void;
      event: (name: string, body?: unknown) => void;
      end: () => void;
    },
  ): void {
    const stopped = () => io.event('stopped', { reason: 'pause', threadId: 1, allThreadsStopped: true });
    if (req.command.startsWith('kdap/') && this.options.kdapRequests === false) {
      io.fail(req, `Unrecognized request: ${req.command}`);
      return;
    }
    switch (req.command) {
      case 'initialize':
        io.respond(req, { supportsConfigurationDoneRequest: true, supportsTerminateRequest: true });
        io.event('initialized');
        return;
      case 'launch':
        // A guest that prints before the client can show anything, with bare \n line ends.
        if (req.arguments?.serialTerminal === true) io.event('kdap/serial', { text: sampleBoot });
        io.respond(req);
        return;
      case 'attach':
      case 'setExceptionBreakpoints':
      case 'setFunctionBreakpoints':
        io.respond(req);
        return;
      case 'setBreakpoints':
        io.respond(req, { breakpoints: [] });
        return;
      case 'configurationDone':
        io.respond(req);
        stopped();
        return;
      case 'threads':
        io.respond(req, { threads: sampleCpus.cpus.map((c) => ({ id: c.threadId, name: `CPU ${c.cpu} [${c.task?.comm}]` })) });
        return;
      case 'stackTrace':
        io.respond(req, {
          stackFrames: [{ id: 1, name: 'cpu_do_idle', line: 0, column: 0, instructionPointerReference: '0xffff80008000f1a4' }],
          totalFrames: 1,
        });
        return;
      case 'scopes':
        io.respond(req, { scopes: [] });
        return;
      case 'variables':
        io.respond(req, { variables: [] });
        return;
      case 'evaluate': {
        const hover = req.arguments?.context === 'hover' ? sampleHovers[String(req.arguments?.expression)] : undefined;
        io.respond(req, hover ?? { result: '0', variablesReference: 0 });
        return;
      }
      case 'pause':
        io.respond(req);
        stopped();
        return;
      case 'continue':
        io.respond(req, { allThreadsContinued: true });
        return;
      case 'disconnect':
      case 'terminate':
        io.respond(req);
        io.event('terminated');
        io.end();
        return;
      case 'kdap/cpus':
        io.respond(req, sampleCpus);
        return;
      case 'kdap/modules':
        io.respond(req, sampleModules);
        return;
      case 'kdap/loadModuleSymbols': {
        const name = String(req.arguments?.name ?? '');
        const known = sampleModules.modules.find((m) => m.name === name);
        if (!known) {
          io.fail(req, `No module named ${name} is loaded.`);
          return;
        }
        io.respond(req, { module: { ...known, symbolFile: String(req.arguments?.file) }, warnings: [`${name}.ko has srcversion 0123, the loaded ${name} has 4567`] });
        return;
      }
      case 'kdap/walk':
        io.respond(req, sampleWalk(String(req.arguments?.va ?? '')));
        return;
      case 'kdap/serialInput': {
        // A tty echoes what is typed, Enter as a new line.
        const text = String(req.arguments?.text ?? '');
        io.respond(req);
        io.event('kdap/serial', { text: text.replace(/\r/g, '\r\n') });
        return;
      }
      case 'kdap/dmesg':
        io.respond(req, { text: '[    0.000000] Booting Linux on physical CPU 0x0000000000 [0x411fd070]\n' });
        return;
      default:
        io.fail(req, `Unrecognized request: ${req.command}`);
    }
  }
}
