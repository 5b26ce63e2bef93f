/**
 * The materializer's write scheduler: work items run in the order they were pushed, as
 * many at a time as their weights (each capped at the capacity) fit in the capacity. Items
 * can be pushed while others run, so a pass can plan its next paths while the files it
 * planned first are being fetched and written.
 */
export class WeightedQueue<T> {
  private readonly waiting: T[] = [];
  private next = 0;
  private used = 0;
  private inFlight = 0;
  /** Waiters: each says whether it is done (and then resolved). */
  private listeners: (() => boolean)[] = [];

  /** `fn` must not throw or reject: a failed item is the caller's to record. */
  constructor(private readonly capacity: number, private readonly weight: (item: T) => number, private readonly fn: (item: T) => Promise<void>) {}

  push(item: T): void {
    this.waiting.push(item);
    this.pump();
  }

  /** Items pushed and not started yet. */
  get backlog(): number {
    return this.waiting.length - this.next;
  }

  /** Resolves once at most `n` items wait to start. */
  backlogAtMost(n: number): Promise<void> {
    return this.until(() => this.backlog <= n);
  }

  /** Resolves once every item pushed so far has finished. */
  drained(): Promise<void> {
    return this.until(() => this.backlog === 0 && this.inFlight === 0);
  }

  private until(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.listeners.push(() => {
        if (!done()) return false;
        resolve();
        return true;
      });
    });
  }

  private pump(): void {
    while (this.next < this.waiting.length) {
      const item = this.waiting[this.next] as T;
      const w = Math.min(this.capacity, this.weight(item));
      if (this.used + w > this.capacity && this.inFlight > 0) break;
      this.next++;
      this.used += w;
      this.inFlight++;
      void this.fn(item).finally(() => {
        this.used -= w;
        this.inFlight--;
        this.pump();
        this.notify();
      });
    }
    // Started items are not kept: a long pass would otherwise hold every action it ran.
    if (this.next > 1024 && this.next * 2 > this.waiting.length) {
      this.waiting.splice(0, this.next);
      this.next = 0;
    }
  }

  private notify(): void {
    const listeners = this.listeners;
    this.listeners = [];
    for (const check of listeners) if (!check()) this.listeners.push(check);
  }
}
