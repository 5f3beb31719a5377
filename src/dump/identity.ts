/**
 * Is this dump's kernel the vmlinux the user gave? Compared by GNU build id when both have one
 * (VMCOREINFO `BUILD-ID`, since v5.9), then by `linux_banner` ("Linux version 6.1.0-50-… (…)
 * #1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-…)"), which names the build, its compiler and
 * date: the dump's copy read through its own memory, vmlinux's from the file.
 */
import * as fs from 'node:fs/promises';
import { ElfFile } from '../oops/elf';
import { cString } from '../kernel/struct';
import { WrongDumpError } from './errors';
import type { DumpTarget } from './target';

export interface VmlinuxIdentity {
  readonly path: string;
  readonly buildId: string | undefined;
  /** `linux_banner` without its trailing newline. */
  readonly banner: string | undefined;
}

const BANNER_MAX = 512;

export async function vmlinuxIdentity(path: string): Promise<VmlinuxIdentity> {
  const elf = await ElfFile.open(path);
  try {
    const buildId = await elf.buildId();
    const symbol = (await elf.symbols()).find((s) => s.name === 'linux_banner');
    const section = symbol ? elf.sections.find((s) => s.index === symbol.shndx) : undefined;
    let banner: string | undefined;
    if (symbol && section && symbol.value >= section.addr) {
      const fh = await fs.open(path, 'r');
      try {
        const bytes = Buffer.alloc(BANNER_MAX);
        const { bytesRead } = await fh.read(bytes, 0, BANNER_MAX, Number(section.offset + symbol.value - section.addr));
        banner = cString(bytes.subarray(0, bytesRead)).trimEnd();
      } finally {
        await fh.close();
      }
    }
    return { path, buildId, banner };
  } finally {
    await elf.close();
  }
}

/** `linux_banner` as the dump holds it, or undefined when the dump cannot give it. */
export async function dumpBanner(target: DumpTarget): Promise<string | undefined> {
  const at = await target.symbol('linux_banner');
  if (at === undefined) return undefined;
  try {
    return cString(await target.readVirtual(at, BANNER_MAX)).trimEnd();
  } catch {
    // The banner may end near a page that the dump left out: read up to the page's end.
    try {
      return cString(await target.readVirtual(at, Number(0x1000n - (at & 0xfffn)))).trimEnd();
    } catch {
      return undefined;
    }
  }
}

/**
 * Throws WrongDumpError naming both kernels when the dump was not taken of `vmlinux`'s kernel.
 * Passes when the evidence agrees or is missing on one side (an old kernel without BUILD-ID
 * whose banner page was filtered out): nothing then says they differ.
 */
export async function checkSameKernel(target: DumpTarget, vmlinux: VmlinuxIdentity): Promise<void> {
  const dump = target.dump;
  const dumpId = dump.vmcoreinfo?.buildId;
  if (dumpId && vmlinux.buildId && !sameBuildId(dumpId, vmlinux.buildId)) {
    throw new WrongDumpError(dump.path, `the dump is of kernel ${dump.release ?? '?'} with build id ${dumpId}, but ${vmlinux.path} has build id ${vmlinux.buildId}${vmlinux.banner ? ` (${vmlinux.banner})` : ''}`);
  }
  const banner = await dumpBanner(target);
  if (banner !== undefined && vmlinux.banner !== undefined && banner !== vmlinux.banner) {
    throw new WrongDumpError(dump.path, `the dump's kernel is "${printable(banner)}" but ${vmlinux.path} is "${vmlinux.banner}"`);
  }
}

/** VMCOREINFO keeps 20 bytes of the id; a longer id (or a shorter note) compares by prefix. */
function sameBuildId(a: string, b: string): boolean {
  const n = Math.min(a.length, b.length);
  return a.slice(0, n).toLowerCase() === b.slice(0, n).toLowerCase();
}

function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
}
