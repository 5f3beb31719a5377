/** The architectures kdap debugs. arch/index.ts has one `ArchOps` per name; nothing else lists them. */
export const ARCH_NAMES = ['x86_64', 'arm64'] as const;

export type Arch = (typeof ARCH_NAMES)[number];

export function isArch(name: unknown): name is Arch {
  return (ARCH_NAMES as readonly unknown[]).includes(name);
}
