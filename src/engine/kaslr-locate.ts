/**
 * Where a randomized (KASLR) kernel put its image, found for a session and told to gdb.
 *
 * - A launch stops the boot where the slide becomes known (kernel/kaslr-boot.ts: x86's
 *   decompressor exit, arm64's branch into the randomized kernel, or a breakpoint at every
 *   address the stop function can have), before the kernel's first C code runs.
 * - An attach finds it from the stopped kernel (kernel/kaslr.ts: the link address first, then
 *   the stop function, the vector base, the pcs, the page tables).
 *
 * gdb then moves every vmlinux symbol by the slide (`symbol-file -o`), and the attachment forgets
 * what it read through the old addresses. Each step is said in the Debug Console; a plan that
 * cannot run says why, and the session finds the slide at the first stop instead.
 */
import * as fs from 'node:fs/promises';
import * as bp from '../gdb/mi/breakpoints';
import * as exec from '../gdb/mi/exec';
import { quoteArg } from '../gdb/mi/parser';
import { bootFacts } from '../kernel/arch/boot';
import { findSlide, KaslrError, verifySlide } from '../kernel/kaslr';
import { earlyStopPlan, runToSlide, type BootControl, type EarlyStop } from '../kernel/kaslr-boot';
import type { Attachment } from './attachment';
import { errorText, UserError } from './errors';
import type { VmlinuxFacts } from './linked-kernel';

export type Say = (line: string) => void;

export interface BootLocation {
  /** The slide; undefined when the boot could not be stopped where it becomes known. */
  readonly slide?: bigint;
  /** The boot is stopped at the entry of `stopAt` already (the every-address plan stops there). */
  readonly atStopAt: boolean;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** The kernel command line turns KASLR off. */
export function kaslrDisabled(append: string | undefined): boolean {
  return /(^|\s)nokaslr(\s|$)/.test(append ?? '');
}

/** A stopAt that names a function (not `reset`, `here` or `none`). */
function stopFunction(stopAt: string): string | undefined {
  return /^[A-Za-z_]\w*$/.test(stopAt) && !['reset', 'here', 'none'].includes(stopAt) ? stopAt : undefined;
}

function describePlan(plan: EarlyStop): string {
  switch (plan.kind) {
    case 'decompressor-exit':
      return `a breakpoint where the decompressor copies itself (${hex(plan.copyAt)}), then at its jump into the kernel it placed`;
    case 'entry-branch':
      return 'a breakpoint, by physical address, at the branch into the randomized kernel';
    case 'every-slide':
      return `a breakpoint at each of the ${plan.addresses.length} addresses ${plan.symbol} can have (the boot runs slower until it stops)`;
  }
}

/** Breakpoints of the plan's own over the engine; the stops they make are never the user's. */
function bootControl(a: Attachment): BootControl {
  const gdb = a.engine.gdb;
  const ours: number[] = [];
  return {
    target: a.target,
    breakAt: async (address) => {
      ours.push((await bp.insert(gdb, `*${hex(address)}`)).number);
    },
    clearBreakpoints: async () => {
      await bp.remove(gdb, ours.splice(0));
    },
    resume: async () => {
      // The every-address plan makes QEMU check hundreds of breakpoints per block: a slow boot.
      const stop = a.engine.waitForStop(600_000);
      stop.catch(() => undefined);
      await exec.continueAll(gdb);
      const s = await stop;
      a.target.invalidate();
      return (await a.target.threads()).find((t) => t.threadId === s.threadId)?.cpu ?? 0;
    },
  };
}

/**
 * A launch, connected at reset: runs the boot to the first stop where the slide is known and
 * moves the symbols. `image` is the kernel image QEMU boots.
 */
export async function locateAtBoot(a: Attachment, o: { image: string; append?: string; stopAt: string }, say: Say): Promise<BootLocation> {
  if (kaslrDisabled(o.append)) return { slide: 0n, atStopAt: false };
  if (o.stopAt === 'reset') {
    say('KASLR: stopped at reset, before the kernel chose where to run: its symbols are at link addresses until the slide is found at a later stop.');
    return { atStopAt: false };
  }
  const fn = stopFunction(o.stopAt) ?? 'start_kernel';
  const facts = await a.vmlinuxFacts([fn]);
  const image = await fs.readFile(o.image);
  const plan = earlyStopPlan(a.arch, facts, { stopAt: fn, image });
  if (!plan) {
    say(`KASLR: this vmlinux lacks what stopping a randomized boot early needs, so "stopAt": "${o.stopAt}" cannot stop there; the kernel runs, and the slide is found at the first stop (Pause). Boot with "nokaslr" in "append" to stop at ${fn}.`);
    return { atStopAt: false };
  }
  say(`KASLR: finding the slide during the boot with ${describePlan(plan)}.`);
  const started = Date.now();
  try {
    const stop = await runToSlide(bootControl(a), facts, plan);
    for (const step of stop.steps) say(`KASLR: ${step}.`);
    say(`KASLR: slide ${hex(stop.slide)}, known ${((Date.now() - started) / 1000).toFixed(1)} s after reset.`);
    await relocate(a, facts, stop.slide, say);
    const link = facts.symbols.get(fn);
    const atStopAt = stopFunction(o.stopAt) === fn && link !== undefined && stop.pc === link + stop.slide;
    if (atStopAt) say(`KASLR: the boot is stopped in ${fn} already.`);
    return { slide: stop.slide, atStopAt };
  } catch (err) {
    if (/not this kernel's/.test(errorText(err))) throw new UserError(`KASLR: ${errorText(err)}. Set "vmlinux" to the ELF of the kernel that boots.`);
    say(`KASLR: the boot could not be stopped where the slide becomes known (${errorText(err)}), so "stopAt": "${o.stopAt}" cannot stop there; the kernel runs, and the slide is found at the first stop (Pause).`);
    return { atStopAt: false };
  }
}

/**
 * A stopped kernel (an attach, or a launch whose slide was not found during the boot): finds
 * the slide and moves the symbols. Undefined, said, when nothing proved true.
 */
export async function locateRunning(a: Attachment, say: Say, quiet = false): Promise<bigint | undefined> {
  const known = a.connection.knownSlide;
  if (known !== undefined) {
    say(`KASLR: slide ${hex(known)}, as ${a.connection.name} records it; the vmlinux was loaded there.`);
    return known;
  }
  const facts = await a.vmlinuxFacts(a.connection.stoppedIn ? [a.connection.stoppedIn] : []);
  a.target.invalidate();
  if (await verifySlide(a.target, facts, 0n)) {
    say('KASLR: the kernel runs at the vmlinux\'s link addresses (slide 0).');
    return 0n;
  }
  const pcName = bootFacts(a.arch).pcRegister;
  const pcs: bigint[] = [];
  for (const t of await a.target.threads()) {
    const pc = (await a.target.registers(t.cpu, [pcName]).catch(() => new Map<string, bigint>())).get(pcName);
    if (pc !== undefined) pcs.push(pc);
  }
  const caps = a.connection.capabilities;
  const started = Date.now();
  try {
    const found = await findSlide(a.target, facts, { pcs, systemRegisters: caps.systemRegisters && caps.physicalReads, stoppedIn: a.connection.stoppedIn });
    say(`KASLR: slide ${hex(found.slide)}, from ${found.detail} (${found.requests} requests, ${Date.now() - started} ms).`);
    await relocate(a, facts, found.slide, say);
    return found.slide;
  } catch (err) {
    if (!(err instanceof KaslrError)) throw err;
    if (!quiet) say(`KASLR: ${err.message}`);
    return undefined;
  }
}

/**
 * Moves gdb's vmlinux symbols by `slide` and makes the attachment forget the old addresses.
 * `symbol-file -o` moves every section; where some must stay (x86_64's per-CPU offsets),
 * the file is loaded again with `add-symbol-file -o`, which keeps the sections named by `-s`.
 */
async function relocate(a: Attachment, facts: VmlinuxFacts, slide: bigint, say: Say): Promise<void> {
  if (slide === 0n) return;
  const started = Date.now();
  const gdb = a.engine.gdb;
  const file = quoteArg(facts.file);
  const kept = facts.unmovedSections;
  let how = 'symbol-file -o';
  if (kept.length === 0) {
    await gdb.console(`symbol-file -o ${hex(slide)} ${file}`, 300_000);
  } else {
    await gdb.console('symbol-file', 60_000);
    await gdb.console(`add-symbol-file ${file} -o ${hex(slide)} ${kept.map((s) => `-s ${quoteArg(s)} 0`).join(' ')}`, 300_000);
    how = `add-symbol-file -o, ${kept.join(', ')} kept at 0`;
  }
  await a.symbolsMoved(slide);
  say(`KASLR: the vmlinux's symbols moved by ${hex(slide)} (${how}, ${Date.now() - started} ms).`);
}
