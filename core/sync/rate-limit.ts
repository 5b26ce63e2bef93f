/**
 * A token bucket for the configured upload and download limits. `take` resolves when the
 * bytes may go; with no limit (0) it resolves at once. One second of burst is allowed so
 * a single 4 MiB chunk never waits longer than its own share.
 */
export class RateLimiter {
  private tokens: number;
  private last = performance.now();
  private queue: Promise<void> = Promise.resolve();

  constructor(private bytesPerSecond: number) {
    this.tokens = bytesPerSecond;
  }

  setLimit(bytesPerSecond: number): void {
    this.bytesPerSecond = bytesPerSecond;
  }

  take(bytes: number): Promise<void> {
    if (this.bytesPerSecond <= 0) return Promise.resolve();
    const turn = this.queue.then(() => this.wait(bytes));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async wait(bytes: number): Promise<void> {
    for (;;) {
      const now = performance.now();
      this.tokens = Math.min(Math.max(this.bytesPerSecond, bytes), this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
      this.last = now;
      if (this.tokens >= bytes) {
        this.tokens -= bytes;
        return;
      }
      await new Promise((r) => setTimeout(r, Math.ceil(((bytes - this.tokens) / this.bytesPerSecond) * 1000)));
    }
  }
}
