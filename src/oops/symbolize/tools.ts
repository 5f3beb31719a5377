/**
 * Finding the external programs crash-log decoding needs: llvm-symbolizer and llvm-mc (one
 * install serves every architecture), and binutils addr2line/objdump for the object's
 * architecture. The kernel scripts pick binutils through `$CROSS_COMPILE`; here that is the
 * `toolchainPrefix` setting, and without it the usual Debian/Ubuntu cross prefixes are tried
 * before the plain name (which is the right one on the host architecture and with
 * binutils-multiarch).
 *
 * Programs are looked up on PATH by hand so that a missing tool is known before anything is
 * spawned, and so that no shell is ever involved.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Arch } from '../types';

export interface ToolOptions {
  /** Folder holding llvm-symbolizer and llvm-mc (the `kdap.llvmPath` setting). */
  llvmPath?: string;
  /** Prefix for binutils, e.g. `aarch64-linux-gnu-` (the `kdap.toolchainPrefix` setting). */
  toolchainPrefix?: string;
  /** Search path; default `$PATH`. */
  searchPath?: string;
}

/** ELF e_machine values of the architectures kernel logs come from. */
export const EM_386 = 3;
export const EM_MIPS = 8;
export const EM_PPC = 20;
export const EM_PPC64 = 21;
export const EM_S390 = 22;
export const EM_ARM = 40;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
export const EM_RISCV = 243;

export function archOfMachine(machine: number): Arch {
  switch (machine) {
    case EM_X86_64:
      return 'x86_64';
    case EM_386:
      return 'i386';
    case EM_AARCH64:
      return 'arm64';
    case EM_ARM:
      return 'arm';
    case EM_RISCV:
      return 'riscv';
    case EM_PPC:
    case EM_PPC64:
      return 'powerpc';
    case EM_MIPS:
      return 'mips';
    case EM_S390:
      return 's390';
    default:
      return 'unknown';
  }
}

/** Cross prefixes tried, in order, when no toolchainPrefix is configured. */
const CROSS_PREFIXES: Partial<Record<Arch, string[]>> = {
  x86_64: ['x86_64-linux-gnu-'],
  i386: ['i686-linux-gnu-', 'x86_64-linux-gnu-'],
  arm64: ['aarch64-linux-gnu-', 'aarch64-linux-'],
  arm: ['arm-linux-gnueabihf-', 'arm-linux-gnueabi-'],
  riscv: ['riscv64-linux-gnu-'],
  powerpc: ['powerpc64le-linux-gnu-', 'powerpc64-linux-gnu-', 'powerpc-linux-gnu-'],
  mips: ['mips-linux-gnu-', 'mipsel-linux-gnu-', 'mips64-linux-gnuabi64-'],
  s390: ['s390x-linux-gnu-'],
};

const found = new Map<string, string | undefined>();

function isExecutable(file: string): boolean {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) return false;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `name` as an absolute path: itself when it contains a slash, else the first hit on the search path. */
export function findProgram(name: string, searchPath = process.env.PATH ?? ''): string | undefined {
  if (name === '') return undefined;
  const key = `${searchPath}\0${name}`;
  if (found.has(key)) return found.get(key);
  let hit: string | undefined;
  if (name.includes('/')) {
    hit = isExecutable(name) ? path.resolve(name) : undefined;
  } else {
    for (const dir of searchPath.split(path.delimiter)) {
      if (dir === '') continue;
      const candidate = path.join(dir, name);
      if (isExecutable(candidate)) {
        hit = candidate;
        break;
      }
    }
  }
  found.set(key, hit);
  return hit;
}

/** Forgets earlier lookups (after a settings change, or in tests). */
export function clearProgramCache(): void {
  found.clear();
}

/** An LLVM tool: from `llvmPath` when configured, else `name` or `name-NN` on the search path. */
export function findLlvmTool(name: 'llvm-symbolizer' | 'llvm-mc' | 'llvm-objdump', options: ToolOptions = {}): string | undefined {
  if (options.llvmPath) return findProgram(path.join(options.llvmPath, name));
  const plain = findProgram(name, options.searchPath);
  if (plain) return plain;
  // Debian installs versioned names; the unversioned link comes only with the default llvm.
  for (let v = 21; v >= 11; v--) {
    const versioned = findProgram(`${name}-${v}`, options.searchPath);
    if (versioned) return versioned;
  }
  return undefined;
}

/** A binutils program (addr2line, objdump) that understands objects of `arch`. */
export function findBinutil(name: 'addr2line' | 'objdump', arch: Arch, options: ToolOptions = {}): string | undefined {
  if (options.toolchainPrefix) return findProgram(options.toolchainPrefix + name, options.searchPath);
  for (const prefix of CROSS_PREFIXES[arch] ?? []) {
    const hit = findProgram(prefix + name, options.searchPath);
    if (hit) return hit;
  }
  return findProgram(name, options.searchPath);
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion (argument array, no shell) and collects its output. */
export function runProgram(program: string, args: readonly string[], timeoutMs = 15_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-4096)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
