/**
 * What a launch that names only its kernel image gets, for every front end: the vmlinux of the
 * build the image sits in (`<build>/arch/<arch>/boot/<image>` → `<build>/vmlinux`), the arch
 * from that ELF, the arch's serial console as the command line, and kdap's minimal initramfs
 * when no initrd is given (or a sentence saying the kernel will stop at "no init found").
 * Each default taken is said in one line.
 */
import * as fs from 'node:fs';
import { elfFileArch, buildOfImage, serialConsole } from './kernel-tree';
import { minimalInitramfs } from './initramfs';
import type { Arch } from '../kernel/target';

export interface LaunchFiles {
  kernel?: string;
  vmlinux?: string;
  arch?: Arch;
  append?: string;
  initrd?: string;
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * `args` with the defaults filled in. What cannot be found is left unset, for the launch's own
 * checks to name (a kernel image that does not exist, no vmlinux beside it).
 */
export async function withLaunchDefaults<A extends LaunchFiles>(args: A, say: (line: string) => void): Promise<A> {
  if (!args.kernel || !isFile(args.kernel)) return args;
  const out: A = { ...args };
  if (!out.vmlinux) {
    const { vmlinux, dir } = await buildOfImage(args.kernel);
    if (!vmlinux) return out;
    out.vmlinux = vmlinux;
    say(`vmlinux: ${vmlinux} (the build${dir ? ` in ${dir}` : ''} the kernel image belongs to).`);
  }
  const arch = out.arch ?? (await elfFileArch(out.vmlinux));
  if (!arch) return out;
  if (out.append === undefined) {
    out.append = serialConsole(arch);
    say(`append: "${out.append}" (the serial console of QEMU's ${arch} machine).`);
  }
  if (!out.initrd) {
    const r = await minimalInitramfs(arch).catch((err: unknown) => ({ missing: `No "initrd", and making one failed: ${err instanceof Error ? err.message : String(err)}` }));
    if ('path' in r) {
      out.initrd = r.path;
      say(`initrd: ${r.path} (a minimal initramfs around ${r.busybox}).`);
    } else {
      say(r.missing);
    }
  }
  return out;
}
