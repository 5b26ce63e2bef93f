/**
 * How well each peer serves chunks: EWMA of latency and throughput, and a failure rate.
 * The fetcher asks the best-ranked peers first but sends a small share of requests to
 * others so the ranking stays fresh; a peer that failed is backed off exponentially.
 */
const ALPHA = 0.2;

export class PeerStats {
  latencyMs = 50;
  bytesPerSecond = 50 * 1024 * 1024;
  failureRate = 0;
  private backoffUntil = 0;
  private failuresInRow = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** Recent receive rate for status displays (bytes/s, EWMA over ~1 s windows). */
  rateIn = 0;
  private windowStart = performance.now();
  private windowBytes = 0;

  success(bytes: number, ms: number): void {
    this.latencyMs += ALPHA * (ms - this.latencyMs);
    const bps = bytes / Math.max(ms / 1000, 0.001);
    this.bytesPerSecond += ALPHA * (bps - this.bytesPerSecond);
    this.failureRate *= 1 - ALPHA;
    this.failuresInRow = 0;
    this.received(bytes);
  }

  failure(now = Date.now()): void {
    this.failureRate += ALPHA * (1 - this.failureRate);
    this.failuresInRow++;
    this.backoffUntil = now + Math.min(60_000, 500 * 2 ** Math.min(this.failuresInRow, 7));
  }

  received(bytes: number): void {
    this.bytesIn += bytes;
    this.windowBytes += bytes;
    const now = performance.now();
    const elapsed = now - this.windowStart;
    if (elapsed >= 1000) {
      this.rateIn = this.rateIn === 0 ? (this.windowBytes * 1000) / elapsed : this.rateIn + 0.5 * ((this.windowBytes * 1000) / elapsed - this.rateIn);
      this.windowStart = now;
      this.windowBytes = 0;
    }
  }

  available(now = Date.now()): boolean {
    return now >= this.backoffUntil;
  }

  /** Higher is better: expected throughput discounted by failures. */
  score(): number {
    return (this.bytesPerSecond / (1 + this.latencyMs / 100)) * (1 - this.failureRate);
  }
}

/** Orders candidates best first, but with probability `explore` puts a random one first. */
export function rankPeers<T extends { stats: PeerStats }>(peers: readonly T[], explore = 0.05, random = Math.random): T[] {
  const ranked = [...peers].filter((p) => p.stats.available()).sort((a, b) => b.stats.score() - a.stats.score());
  if (ranked.length > 1 && random() < explore) {
    const i = 1 + Math.floor(random() * (ranked.length - 1));
    const [pick] = ranked.splice(i, 1);
    if (pick) ranked.unshift(pick);
  }
  return ranked;
}
