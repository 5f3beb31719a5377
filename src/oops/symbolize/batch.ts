/**
 * Collects the lookups asked for within one turn of the event loop and hands them over as one
 * batch: a hover, a page of document links or a whole decoded log each become a single write to
 * the helper process instead of one round trip per frame.
 */
export class Batcher<T, R> {
  private queue: Array<{ item: T; resolve: (r: R) => void; reject: (e: Error) => void }> = [];
  private scheduled = false;

  /** `run` answers a batch, one result per item, in order. */
  constructor(private readonly run: (items: T[]) => Promise<R[]>) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    this.run(batch.map((b) => b.item)).then(
      (results) => batch.forEach((b, i) => b.resolve(results[i])),
      (err: unknown) => {
        const e = err instanceof Error ? err : new Error(String(err));
        for (const b of batch) b.reject(e);
      },
    );
  }
}
