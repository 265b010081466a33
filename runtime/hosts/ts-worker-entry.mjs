// Source-mode worker entry (Node 20 has no type stripping, and tsx's
// `--import` hook does not reach worker threads there): register tsx in this
// thread, then load the TypeScript entry. Compiled runs (dist/) never use it.
import { workerData } from 'node:worker_threads';

const entry = workerData?.__entry;
if (typeof entry !== 'string') throw new Error('ts-worker-entry: workerData.__entry is missing');
if (entry.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(entry);
