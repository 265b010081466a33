import { getHeapStatistics, setFlagsFromString } from 'node:v8';
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

/** The least heap V8 had committed right after one of this thread's `collectIfGrown` collections; null before the first. */
let heapFloor: number | null = null;

/**
 * A full collection of this thread's heap when the heap V8 has committed
 * grew past `growth` × the least it was right after one of these (always,
 * the first time); says whether it collected. V8 collects on its own; what
 * it does not do is give back the room a heap grew into, and it lets a
 * large heap grow to several times its live size first. The bound is the
 * least size after a collection, not the last, so that a heap left a little
 * larger by each collection cannot ratchet up.
 */
export function collectIfGrown(growth: number): boolean {
  if (heapFloor !== null && getHeapStatistics().total_heap_size <= heapFloor * growth) return false;
  collectGarbage();
  const after = getHeapStatistics().total_heap_size;
  heapFloor = heapFloor === null ? after : Math.min(heapFloor, after);
  return true;
}
