/**
 * Stepping off a breakpoint with interrupts masked, for a stub that single-steps with them on.
 *
 * arm64 kgdb single-steps with interrupts enabled: a pending IRQ (after a stop on a slow line
 * the timer always has one) is taken first and the step ends in the vector, so gdb's step over
 * the breakpoint it stopped at does not happen and the same breakpoint hits again when the IRQ
 * returns, over and over (measured at do_init_module: insmod never finished). kdap steps that
 * one instruction itself with the mask bits (`ArchOps.kgdb.maskedStep`, PSTATE.I and F) set,
 * then restores them, and gdb's continue finds nothing to step over.
 */
import * as data from '../gdb/mi/data';
import type { KgdbFacts } from '../kernel/arch/arch';
import type { Engine } from './engine';

type MaskedStep = NonNullable<KgdbFacts['maskedStep']>;

/** gdb's number of the mask register, per session: the register list does not change under it. */
const registerNumbers = new WeakMap<Engine, number>();

export async function stepOffBreakpointMasked(engine: Engine, masked: MaskedStep): Promise<void> {
  const stop = engine.stopInfo;
  if (stop?.reason !== 'breakpoint-hit' || stop.threadId === undefined) return;
  const thread = String(stop.threadId);
  // Without a target description gdb types cpsr as flags, which casts refuse: go by number, in hex.
  let number = registerNumbers.get(engine);
  if (number === undefined) {
    number = (await data.registerNames(engine.gdb)).indexOf(masked.register);
    registerNumbers.set(engine, number);
  }
  if (number < 0) return;
  const regno = String(number);
  const read = async (): Promise<bigint> => {
    const value = (await data.registerValues(engine.gdb, [number], { thread: stop.threadId })).get(number);
    if (value === undefined) throw new Error(`${masked.register} is unavailable`);
    return BigInt(value);
  };
  const write = (value: bigint) => engine.gdb.send('-data-write-register-values', ['--thread', thread, 'x', regno, `0x${value.toString(16)}`]);
  const before = await read();
  if ((before & masked.mask) === masked.mask) return;
  await write(before | masked.mask);
  try {
    await engine.stepInstructionUnseen(stop.threadId);
  } finally {
    await write(((await read()) & ~masked.mask) | (before & masked.mask));
  }
}
