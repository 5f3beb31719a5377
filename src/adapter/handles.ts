/** Integer references handed to the client (variablesReference), valid until the next resume. */
export class Handles<T> {
  private next = 1000;
  private readonly map = new Map<number, T>();

  create(value: T): number {
    const id = this.next++;
    this.map.set(id, value);
    return id;
  }

  get(id: number): T | undefined {
    return this.map.get(id);
  }

  reset(): void {
    this.map.clear();
  }
}

/** Frame ids encode (thread, level), so a stack trace needs no table. */
export function frameId(thread: number, level: number): number {
  return thread * 10_000 + level;
}

export function decodeFrameId(id: number): { thread: number; frame: number } {
  return { thread: Math.floor(id / 10_000), frame: id % 10_000 };
}
