import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

/**
 * The worker side of the import watchdog (runtime/module-probe.ts): loads a
 * user's scenario module the way the main thread is about to, and reads the
 * exports the main thread reads, while a heartbeat on a shared word says the
 * thread still gets back to its event loop. A synchronous loop stops the
 * heartbeat; a top-level await that never settles leaves nothing to run, and
 * the worker exits without an answer (the heartbeat timer is unref'd so it
 * does not keep the thread alive).
 */
const { file, beat } = workerData as { file: string; beat: SharedArrayBuffer };
const hb = new Int32Array(beat);
Atomics.add(hb, 0, 1);
setInterval(() => Atomics.add(hb, 0, 1), 20).unref();

const url = pathToFileURL(file).href;
let ok = true;
try {
  const mod = (/\.m?ts$/.test(file)
    ? await (await import('tsx/esm/api')).tsImport(url, import.meta.url)
    : await import(url)) as Record<string, unknown>;
  // getters run code too
  const inner = mod.default;
  if (typeof inner === 'object' && inner !== null) void (inner as Record<string, unknown>).default;
  void mod.patches;
} catch {
  // the main thread's import reports what was thrown, with its own wording (scenarios/format/load.ts)
  ok = false;
}
parentPort?.postMessage({ ok });
