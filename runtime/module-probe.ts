import { codeUrl, spawnWorker } from './hosts/spawn.ts';
import { InputError } from './input-error.ts';
import { importStallMs } from './user-code.ts';

/**
 * The import watchdog (issue 17, Build 4): a user's scenario module is first
 * loaded on a worker thread, which the main thread can stop, before the main
 * thread imports it. The worker's heartbeat (module-probe-entry.ts) tells a
 * slow load, which keeps getting back to its event loop, from top-level code
 * that never returns. Outcomes, all exit 2 naming the file:
 * - no heartbeat for `--hang` seconds (default 30: tsx's loader blocks the
 *   thread while it compiles a module and what it imports, which on a loaded
 *   machine takes seconds): "did not finish loading in N s";
 * - the worker ends without an answer: a top-level await that never settles;
 * - still loading after `LOAD_LIMIT_MS` (a long timer at the top level).
 * A module that throws loads "fine" here: the main thread's import says
 * what it threw.
 */
export const LOAD_LIMIT_MS = 60_000;

export function probeModule(abs: string, file: string, stallMs = importStallMs()): Promise<void> {
  const beat = new SharedArrayBuffer(4);
  const hb = new Int32Array(beat);
  const worker = spawnWorker(codeUrl('./hosts/module-probe-entry', import.meta.url), 'module-probe', { file: abs, beat });
  const t0 = performance.now();
  const secs = (ms: number): string => `${Math.round(ms / 100) / 10} s`;
  return new Promise<void>((resolve, reject) => {
    let last = 0;
    let lastAt = t0;
    let done = false;
    const finish = (e: InputError | null): void => {
      if (done) return;
      done = true;
      clearInterval(timer);
      worker.removeAllListeners();
      worker.on('error', () => {});
      void worker.terminate();
      if (e === null) resolve();
      else reject(e);
    };
    const timer = setInterval(() => {
      const now = performance.now();
      const b = Atomics.load(hb, 0);
      if (b !== last) {
        last = b;
        lastAt = now;
      } else if (b > 0 && now - lastAt >= stallMs) {
        finish(new InputError(`the module did not finish loading in ${secs(stallMs)}: its top-level code (or a getter of its exports) runs without returning, a loop?`, file));
      }
      if (now - t0 >= LOAD_LIMIT_MS) finish(new InputError(`the module did not finish loading in ${secs(LOAD_LIMIT_MS)}`, file));
    }, 50);
    worker.on('message', () => finish(null));
    // the worker failing to start is not the module's fault: the main thread's import decides
    worker.on('error', () => finish(null));
    worker.on('exit', () => finish(new InputError('the module did not finish loading: its top-level await never settles (nothing left that could settle it)', file)));
  });
}
