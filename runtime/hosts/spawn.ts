import { Worker } from 'node:worker_threads';
import type { ResourceLimits, TransferListItem } from 'node:worker_threads';
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
export function spawnWorker(entry: URL, name: string, data: Record<string, unknown>, transferList: readonly TransferListItem[] = [], resourceLimits?: ResourceLimits): Worker {
  for (;;) {
    const opts = { name, execArgv: workerExecArgv, workerData: { ...data, __entry: entry.href, name }, transferList: [...transferList], ...(resourceLimits !== undefined ? { resourceLimits } : {}) };
    try {
      return needsShim ? new Worker(new URL('./ts-worker-entry.mjs', import.meta.url), opts) : new Worker(entry, opts);
    } catch (e) {
      // A V8 or process-wide flag (`node --single-threaded-gc …`, as `npm start` runs) is the
      // process's, not a worker's: Node refuses the worker and names the flags. Leave them out.
      const refused = refusedFlags(e);
      if (refused.length === 0) throw e;
      workerExecArgv = workerExecArgv.filter((a) => !refused.includes(a.split('=')[0] as string));
    }
  }
}

/** Workers inherit the parent's Node flags, except those that only make sense for a main script (and those Node refuses for a worker: spawnWorker). */
let workerExecArgv = process.execArgv.filter((a) => !a.startsWith('--input-type') && a !== '-e' && a !== '--eval');

/** The flags of an ERR_WORKER_INVALID_EXEC_ARGV ("Initiated Worker with invalid execArgv flags: --a, --b"), or none. */
function refusedFlags(e: unknown): string[] {
  if ((e as { code?: unknown }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') return [];
  const list = String((e as Error).message).split(': ')[1] ?? '';
  return list.split(',').map((f) => f.trim().split('=')[0] as string).filter((f) => f.startsWith('-') && workerExecArgv.some((a) => a.split('=')[0] === f));
}

/** The task file (and its workerData) a piscina pool should load to run `entry` (same rules as spawnWorker). */
export function poolFilename(entry: URL): { filename: string; workerData: Record<string, unknown> } {
  return needsShim
    ? { filename: new URL('./ts-pool-entry.mjs', import.meta.url).href, workerData: { __entry: entry.href } }
    : { filename: entry.href, workerData: {} };
}
