/**
 * How a device host tunes V8's heap: the daemon's process, or the desktop app's (its engine
 * runs on a worker thread there; V8's flags hold for every isolate of the process).
 *
 * Moving chunks keeps tens of MiB of Buffers alive at once on both sides: reads waiting to
 * be sent, frames the transport has not had acknowledged, chunks waiting to be written.
 * V8 counts that external memory against the old generation's limit, and when collections
 * look cheap it sets the limit at only 1.1-1.5 times the live heap. A host's live heap is
 * about 15 MB, so a full mark-compact started after every ~25 MB of chunk data: about 90
 * per GiB on each side, each with ~60 ms of marking on helper threads, on a machine whose
 * cores the transport already keeps busy. A limit of four times the live heap (the largest
 * factor V8 picks on its own) leaves room for what is in flight.
 *
 * Measured with `CANOPY_BENCH_SYNC_ONLY=swarm npm run bench -- sync` (1 GiB over Hyperswarm
 * alone, 2 cores): mark-compacts 91 and 100 -> 5 and 28, user CPU 7.1 and 6.3 s -> 4.7 and
 * 4.3 s, 14.4-15.4 s -> 11.1-12.0 s. A factor of 2 (`=100`) did not help; 3 (`=200`) went
 * halfway. Over the direct link (`=large`): 7.0 s -> 4.6-4.8 s.
 */
import v8 from 'node:v8';

/** The V8 flag: the old generation may grow to (1 + 300/100) times what a full collection left live. */
export const HEAP_GROWING_FLAG = '--heap-growing-percent=300';

/** Applies HEAP_GROWING_FLAG to this process (V8 reads it at every full collection, so it takes effect at once). */
export function tuneHeapForTransfers(): void {
  v8.setFlagsFromString(HEAP_GROWING_FLAG);
}
