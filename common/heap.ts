// How far V8 lets a process's heap grow between two full collections (CM_HEAP_GROWING_PERCENT).
//
// Under load, what a request holds while it is in flight (its HTTP and HTTP/2 objects, its
// messages, its promises) outlives two young-generation collections and is promoted; it dies soon
// after, in the old generation. With a heap limit of 2 GiB or more (Node's default on a host with
// 8 GB of memory or more) V8 lets the old generation grow to up to four times what survived the
// last full collection before it collects again, so a service with 30-45 MB of live objects sat
// at 120-165 MB of heap, most of it garbage, and its RSS at 290-310 MB (bench/README.md, issue 14).
// Twice what survived held the same loads at 205-236 MB, for more frequent full collections
// (about +10% CPU per item on the batch stream; within the run-to-run spread on the REST rows).
// Below 2 GiB V8's own factor is already at most 2 (1.3 to 2 with the limit), and the flag would
// also replace the smaller factors V8 uses under memory pressure, so it is left alone there.

import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { integer } from './env.js';

export const HEAP_ENV = {
  CM_HEAP_GROWING_PERCENT: integer(undefined, 0, 1000),
};

/** The percent set when none is configured, on a heap limit of at least LARGE_HEAP_LIMIT. */
export const DEFAULT_HEAP_GROWING_PERCENT = 100;
const LARGE_HEAP_LIMIT = 2 * 1024 ** 3;

/**
 * The percent to set: the configured one; when none is, DEFAULT_HEAP_GROWING_PERCENT on a large
 * heap limit and 0 (nothing set) below it.
 */
export function heapGrowingPercent(configured: number | undefined, heapSizeLimit = getHeapStatistics().heap_size_limit): number {
  if (configured !== undefined) return configured;
  return heapSizeLimit >= LARGE_HEAP_LIMIT ? DEFAULT_HEAP_GROWING_PERCENT : 0;
}

/**
 * Sets the growing factor for every isolate of the process (worker threads included), from the
 * next full collection on (V8 reads it each time it sets the next collection's limit). 0 sets
 * nothing: what the process runs with stays (V8's heuristic, or node's own --heap-growing-percent).
 * Answers the percent set.
 */
export function applyHeapGrowingPercent(configured: number | undefined): number {
  const percent = heapGrowingPercent(configured);
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
  return percent;
}
