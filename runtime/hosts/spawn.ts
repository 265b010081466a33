import { Worker } from 'node:worker_threads';
import type { TransferListItem } from 'node:worker_threads';
import { sourceMode } from '../modules.ts';

const nativeTs = (process.features as { typescript?: string }).typescript !== undefined;

/**
 * Starts a worker thread on one of our modules, given as a path relative to
 * this folder without extension ("./worker-entry"). Compiled runs spawn the
 * `.js` file directly; source runs on a Node without type stripping go
 * through the tsx shim (docs/node-runtime.md §2).
 */
export function spawnWorker(rel: string, name: string, data: Record<string, unknown>, transferList: readonly TransferListItem[]): Worker {
  const entry = new URL(`${rel}${sourceMode ? '.ts' : '.js'}`, import.meta.url);
  const workerData = { ...data, __entry: entry.href, name };
  const opts = { name, workerData, transferList: [...transferList] };
  if (sourceMode && !nativeTs) return new Worker(new URL('./ts-worker-entry.mjs', import.meta.url), opts);
  return new Worker(entry, opts);
}

/** The file a piscina pool should load for `rel` (same rules as spawnWorker). */
export function poolFilename(rel: string): { filename: string; workerData: Record<string, unknown> } {
  const entry = new URL(`${rel}${sourceMode ? '.ts' : '.js'}`, import.meta.url);
  if (sourceMode && !nativeTs) return { filename: new URL('./ts-pool-entry.mjs', import.meta.url).href, workerData: { __entry: entry.href } };
  return { filename: entry.href, workerData: {} };
}
