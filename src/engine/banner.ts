/**
 * linux_banner ("Linux version 6.1.0-50-cloud-amd64 (…) #1 SMP … Debian 6.1.176-1 (date)")
 * names one build exactly. Read from the vmlinux file before connecting and from target memory
 * after, it tells whether the symbols belong to the kernel that runs.
 */
import type { GdbBackend } from '../gdb/backend';
import * as data from '../gdb/mi/data';
import { bestEffort } from './errors';
import type { VmlinuxFacts } from './linked-kernel';

export interface Banner {
  address: bigint;
  size: number;
  text: string;
}

/** Longer than any real banner; only a bound for a symbol with a bogus size. */
const maxBanner = 1024;

async function evaluate(gdb: GdbBackend, expression: string): Promise<string> {
  const r = await gdb.send('-data-evaluate-expression', [expression]);
  return typeof r.results.value === 'string' ? r.results.value : '';
}

function text(bytes: Uint8Array): string | undefined {
  const s = Buffer.from(bytes).toString('latin1');
  const end = s.indexOf('\0');
  const banner = (end < 0 ? s : s.slice(0, end)).trimEnd();
  // Memory that is not the banner yet (paging off, before relocation): not a verdict.
  return banner.startsWith('Linux version ') ? banner : undefined;
}

/**
 * The banner as the vmlinux's ELF holds it (engine/linked-kernel.ts), without gdb. The target is
 * read for the text and its NUL: a longer banner there does not compare equal.
 */
export function bannerOfFacts(facts: Pick<VmlinuxFacts, 'symbols' | 'banner' | 'bannerText'>): Banner | undefined {
  const address = facts.symbols.get('linux_banner');
  if (address === undefined || !facts.bannerText.startsWith('Linux version ')) return undefined;
  return { address, size: Math.min(facts.banner.length + 1, maxBanner), text: facts.bannerText };
}

/** The banner in the vmlinux file, through gdb; call before a target is connected. */
export async function fileBanner(gdb: GdbBackend): Promise<Banner | undefined> {
  const address = BigInt(await evaluate(gdb, '(unsigned long)&linux_banner'));
  // Some DWARF has no size for the array (arm64 Debian: "<optimized out>"); the NUL ends it.
  const declared = Number(await bestEffort(evaluate(gdb, 'sizeof(linux_banner)'), 'sizeof(linux_banner)', ''));
  const size = declared > 0 ? Math.min(declared, maxBanner) : 512;
  const t = text(await data.readMemory(gdb, address, size));
  return t === undefined ? undefined : { address, size, text: t };
}

/**
 * What target memory holds at the file banner's address: the running kernel's banner, or,
 * when another build is laid out differently, a note of what is there instead. Undefined
 * while the address is unreadable or still blank (paging off, kernel not loaded yet).
 */
export async function targetBanner(gdb: GdbBackend, file: Banner): Promise<string | undefined> {
  const bytes = await data.readMemory(gdb, file.address, file.size);
  if (bytes.length === 0 || bytes.every((b) => b === 0)) return undefined;
  const banner = text(bytes);
  if (banner !== undefined) return banner;
  const preview = Buffer.from(bytes.subarray(0, 32)).toString('latin1').replace(/[^\x20-\x7e]/g, '.');
  return `no linux_banner at 0x${file.address.toString(16)} (it holds "${preview}"): a kernel built differently`;
}
