import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | null = null;

/**
 * A full garbage collection of this thread's heap, now. Long free-mode runs
 * (stress) call it between rounds: V8 otherwise lets each thread's heap grow
 * with the garbage of past rounds before it collects, and with two dozen
 * threads that drift is most of a run's RSS growth. `--expose-gc` is set
 * for the first call only; the function it exposes lives in a fresh context.
 */
export function collectGarbage(): void {
  if (gc === null) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}
