// Source-mode piscina task file: registers tsx, then re-exports the
// TypeScript task module's default export. Compiled runs load the .js task
// module directly.
import { workerData } from 'node:worker_threads';

const entry = workerData?.__entry;
if (typeof entry !== 'string') throw new Error('ts-pool-entry: workerData.__entry is missing');
const { register } = await import('tsx/esm/api');
register();
const mod = await import(entry);
export default mod.default;
