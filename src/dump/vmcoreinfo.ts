/**
 * VMCOREINFO (kernel/crash_core.c, arch/<arch>/kernel/*crash*): `KEY=value` lines the kernel
 * writes for dump readers at boot, plus `CRASHTIME=` when it crashes. Keys are `OSRELEASE`,
 * `BUILD-ID`, `PAGESIZE`, `KERNELOFFSET`, `SYMBOL(name)`, `OFFSET(struct.member)`,
 * `SIZE(name)`, `LENGTH(name)`, `NUMBER(name)`. SYMBOL and KERNELOFFSET are hex without a
 * prefix (%lx); SIZE, OFFSET, LENGTH, PAGESIZE and VMCOREINFO_NUMBER() are decimal (%ld, so
 * x86_64's NUMBER(phys_base) may be negative); arm64 writes kimage_voffset and PHYS_OFFSET as
 * 0x-prefixed hex.
 */

export class VmcoreInfo {
  /** Every line as written, later duplicates winning. */
  readonly entries: ReadonlyMap<string, string>;

  constructor(readonly text: string) {
    const entries = new Map<string, string>();
    for (const line of text.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) entries.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
    }
    this.entries = entries;
  }

  get(key: string): string | undefined {
    return this.entries.get(key);
  }

  /** `uname -r` of the kernel that wrote it. */
  get osrelease(): string | undefined {
    return this.get('OSRELEASE');
  }

  /** GNU build id of vmlinux (since v5.9), hex. */
  get buildId(): string | undefined {
    return this.get('BUILD-ID')?.toLowerCase();
  }

  get pageSize(): number | undefined {
    return decimal(this.get('PAGESIZE'));
  }

  /** The KASLR offset: how far the kernel image was moved from its link address. */
  get kernelOffset(): bigint | undefined {
    return hex(this.get('KERNELOFFSET'));
  }

  /** `CRASHTIME=` (seconds since the epoch): present only when the kernel crashed. */
  get crashTime(): number | undefined {
    return decimal(this.get('CRASHTIME'));
  }

  /** `SYMBOL(name)`: the symbol's run-time address (KASLR applied). */
  symbol(name: string): bigint | undefined {
    return hex(this.get(`SYMBOL(${name})`));
  }

  offset(member: string): number | undefined {
    return decimal(this.get(`OFFSET(${member})`));
  }

  size(name: string): number | undefined {
    return decimal(this.get(`SIZE(${name})`));
  }

  length(name: string): number | undefined {
    return decimal(this.get(`LENGTH(${name})`));
  }

  /** `NUMBER(name)`: 0x-prefixed values as hex, others as (maybe negative) decimal. */
  number(name: string): bigint | undefined {
    const raw = this.get(`NUMBER(${name})`);
    if (raw === undefined) return undefined;
    if (/^0x/i.test(raw)) return hex(raw);
    return /^-?\d+$/.test(raw) ? BigInt(raw) : undefined;
  }
}

function decimal(raw: string | undefined): number | undefined {
  if (raw === undefined || !/^-?\d+$/.test(raw)) return undefined;
  return Number(raw);
}

function hex(raw: string | undefined): bigint | undefined {
  if (raw === undefined) return undefined;
  const digits = raw.replace(/^0x/i, '');
  return /^[0-9a-fA-F]+$/.test(digits) ? BigInt.asUintN(64, BigInt(`0x${digits}`)) : undefined;
}
