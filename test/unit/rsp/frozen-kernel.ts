/** A FrozenKernel over the planted task kernel, for the server tests. */
import type { FrozenCpu, FrozenKernel } from '../../../src/rsp/backend';
import { populated } from '../kernel/planted-tasks';

export function frozenKernel(arch: 'x86_64' | 'arm64' = 'x86_64', stopCpu = 1) {
  const k = populated(arch);
  const pc = arch === 'x86_64' ? 'rip' : 'pc';
  const sp = arch === 'x86_64' ? 'rsp' : 'sp';
  // CPU 0 runs user space (x86 cs 0x33, arm64 EL0), CPU 1 the kernel (cs 0x10, EL1h).
  const mode = (user: boolean): [string, bigint] => (arch === 'x86_64' ? ['cs', user ? 0x33n : 0x10n] : ['cpsr', user ? 0x0n : 0x3c5n]);
  const cpus: FrozenCpu[] = [
    { cpu: 0, registers: new Map([[pc, 0x400123n], [sp, 0x7ffd1000n], [arch === 'x86_64' ? 'rax' : 'x0', 0xaaaan], mode(true)]), note: 'user mode' },
    { cpu: 1, registers: new Map([[pc, arch === 'x86_64' ? 0xffffffff81f00010n : 0xffff800008f00010n], [sp, 0xffffc90000101f00n], mode(false)]) },
  ];
  const kernel: FrozenKernel = {
    target: k.image,
    cpus: async () => cpus,
    stop: async () => ({ cpu: stopCpu, signal: 5 }),
  };
  return { ...k, kernel, cpus };
}
