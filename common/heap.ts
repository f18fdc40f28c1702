// How far V8 lets a process's heap grow between two full collections (CM_HEAP_GROWING_PERCENT).
//
// Under load, what a request holds while it is in flight (its HTTP and HTTP/2 objects, its
// messages, its promises) outlives two young-generation collections and is promoted; it dies soon
// after, in the old generation. V8 lets the old generation grow to up to four times what survived
// the last full collection before it collects again, so a service with 30-45 MB of live objects
// sat at 120-165 MB of heap, most of it garbage, and its RSS at 290-310 MB (bench/README.md,
// issue 14). A fixed factor collects sooner: at 100 (twice what survived) the same loads peaked
// at 205-236 MB, for more frequent full collections (measured: up to 15% more CPU per call on the
// batch stream, within the run-to-run spread on the REST rows). 0 keeps V8's own heuristic.

import { setFlagsFromString } from 'node:v8';
import { integer } from './env.js';

export const HEAP_ENV = {
  CM_HEAP_GROWING_PERCENT: integer(100, 0, 1000),
};

/**
 * Sets the growing factor for every isolate of the process (worker threads included). V8 reads it
 * each time it sets the next collection's limit, so it holds from the next full collection on.
 */
export function applyHeapGrowingPercent(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}
