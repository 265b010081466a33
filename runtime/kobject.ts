import type { Kernel } from './actor.ts';
import type { ObjId } from '../protocol/ids.ts';

/**
 * CONFIG_DEBUG_KOBJECT_RELEASE for actor code. In the kernel,
 * lib/kobject.c kobject_release() does not call the release at the last
 * put but schedules it HZ·(1 + get_random_u32_below(4)) later, so code that
 * assumes the object is gone right after its put (or keeps using it until
 * then) fails loudly. Here time is scheduling points: the release waits a
 * seeded number of `k.yield()`s, 1..maxDelay (default 4, the kernel's 1–4
 * seconds), drawn from the task's own random stream — the same in every
 * host and schedule for a given seed, and the scheduler may run any other
 * task in the window.
 *
 * Difference from the kernel: the release runs in the task that dropped the
 * last reference (after its yields) rather than in a delayed work item, so
 * the putting task is delayed too. An actor that wants the kernel's shape
 * exactly can spawn a task of its own that calls `delayedRelease`.
 *
 * Actor code enables it from its configuration, e.g.
 * `kobjectPut(k, dev.id, release, { enabled: cfg.debugKobjectRelease })`.
 */
export interface DebugRelease {
  readonly enabled: boolean;
  /** Largest number of yields before the release (at least 1). */
  readonly maxDelay?: number;
}

export type Release<S> = (k: Kernel<S>) => void | Promise<void>;

/** Yields 1..maxDelay times (seeded), then runs the release; returns the delay used. */
export async function delayedRelease<S>(k: Kernel<S>, release: Release<S>, maxDelay = 4): Promise<number> {
  const delay = 1 + k.rng.int(Math.max(1, Math.floor(maxDelay)));
  for (let i = 0; i < delay; i++) await k.yield();
  await release(k);
  return delay;
}

/**
 * kobject_put(): drops a reference and, at zero, runs the release — at once,
 * or after a seeded delay when debugging is enabled. Returns the count left.
 */
export async function kobjectPut<S>(k: Kernel<S>, obj: ObjId, release: Release<S>, debug: DebugRelease = { enabled: false }): Promise<number> {
  const left = k.put(obj);
  if (left !== 0) return left;
  if (debug.enabled) await delayedRelease(k, release, debug.maxDelay);
  else await release(k);
  return left;
}
