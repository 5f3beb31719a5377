/** What the DAP session has while a kernel is attached: the engine's record and the DAP side of it. */
import type { Attachment } from '../engine/attachment';
import { UserError } from '../engine/errors';
import type { SourceMapper } from '../engine/sources';
import type { Breakpoints } from './breakpoints';
import type { Variables } from './variables';

export interface Attached {
  readonly kernel: Attachment;
  readonly variables: Variables;
  readonly breakpoints: Breakpoints;
  readonly sources: SourceMapper;
}

/** Requests that need the kernel stopped say so in one sentence. */
export function requireStopped(a: Attached, what: string): void {
  if (a.kernel.engine.state !== 'stopped') throw new UserError(`The target is running: pause it to ${what}.`);
}

/** Requests that would run the kernel, on a connection that cannot (a dump). */
export function requireResumable(a: Attached): void {
  if (!a.kernel.connection.capabilities.resume) throw new UserError(`The kernel cannot run, step or pause: ${a.kernel.connection.name} is read-only.`);
}
