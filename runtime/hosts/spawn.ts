import { Worker } from 'node:worker_threads';
import type { TransferListItem } from 'node:worker_threads';
import { codeExt, sourceMode } from '../modules.ts';

const nativeTs = (process.features as { typescript?: string }).typescript !== undefined;
const needsShim = sourceMode && !nativeTs;

/** One of our modules as it runs now: `rel` is relative to `base` (an import.meta.url), without extension. */
export function codeUrl(rel: string, base: string): URL {
  return new URL(rel + codeExt, base);
}

/**
 * Starts a worker thread on one of our modules. Compiled runs spawn the
 * `.js` file directly; source runs on a Node without type stripping go
 * through the tsx shim (docs/node-runtime.md §2).
 */
export function spawnWorker(entry: URL, name: string, data: Record<string, unknown>, transferList: readonly TransferListItem[] = []): Worker {
  // Workers inherit the parent's Node flags, except those that only make sense for a main script.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type') && a !== '-e' && a !== '--eval');
  const opts = { name, execArgv, workerData: { ...data, __entry: entry.href, name }, transferList: [...transferList] };
  return needsShim ? new Worker(new URL('./ts-worker-entry.mjs', import.meta.url), opts) : new Worker(entry, opts);
}

/** The task file (and its workerData) a piscina pool should load to run `entry` (same rules as spawnWorker). */
export function poolFilename(entry: URL): { filename: string; workerData: Record<string, unknown> } {
  return needsShim
    ? { filename: new URL('./ts-pool-entry.mjs', import.meta.url).href, workerData: { __entry: entry.href } }
    : { filename: entry.href, workerData: {} };
}
