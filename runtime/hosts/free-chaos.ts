import { mix, seedOf, stateValue } from '../rng.ts';
import type { TaskId } from '../../protocol/ids.ts';

/**
 * Delay injection for free mode ("chaos"). On two cores the operating
 * system runs the same few interleavings of a free run over and over, so a
 * bug that needs a particular window is missed however many runs are made.
 * The kernel's own tools answer this with perturbation, and so does this:
 *
 * - KCSAN (kernel/kcsan/core.c: kcsan_setup_watchpoint) stalls the accessing
 *   thread for a randomized delay (CONFIG_KCSAN_UDELAY_TASK, randomized by
 *   kcsan.delay_randomize) at a sampled watchpoint, so that a racing access
 *   lands inside the window;
 * - rr's chaos mode randomizes thread priorities and changes them at random
 *   points, so that rarely scheduled orders happen;
 * - Coyote's concurrency fuzzing inserts delays at the scheduling points of
 *   code it does not control;
 * - syzkaller injects faults and delays to widen race windows.
 *
 * Every decision here is a pure function of (seed, task, the task's own step
 * number): which step is held back, for how many of the others' steps, and
 * each task's priority do not depend on timing, on which thread asks, or on
 * what the actor has seen. The effect on the interleaving does (it is real concurrency); what
 * actually ran is in the free-run log, and the held-back steps are listed
 * there too (`FreeLog.delays`).
 *
 * A held step is set aside (its actor goes on with its other steps) until
 * the other actors have made as many steps as the seed said, or nothing
 * else moves any more, or at most `capMs`: "long enough for the others to
 * overtake" is counted in steps, not milliseconds, so it means the same on
 * a quiet and on a loaded machine (a fixed 15 ms delay was measured to be too
 * short for seed-004's window at load average 50, and wastes time on a
 * quiet machine).
 *
 * Strategies mirror the controlled ones:
 * - `random`: a step is held back with probability delays/k (k: the steps
 *   of the longest run so far, so about `delays` steps per run however long
 *   the run is), until the others have made a seeded number of steps in
 *   [1, k]; a lock grant (a wake-up) goes to a seeded random sleeper.
 * - `pct` (Burckhardt et al., ASPLOS 2010; runtime/strategies/pct.ts): each
 *   task has a seeded priority; an actor runs the highest-priority step it
 *   has pending first and a lock grant wakes the highest-priority sleeper.
 *   About depth-1 steps per run are change points (each step is one with
 *   probability (depth-1)/k, as controlled PCT learns k): from there on the
 *   task ranks below every other, and that step is held until nothing else
 *   moves — it runs when no higher-priority task can.
 */
export type ChaosMode = 'off' | 'random' | 'pct';

export const CHAOS_MODES: readonly ChaosMode[] = ['off', 'random', 'pct'];

export interface ChaosOptions {
  readonly mode: ChaosMode;
  /** random: the steps held back per run, on average. */
  readonly delays: number;
  /** pct: the bug depth aimed at; depth-1 change points per run on average. */
  readonly depth: number;
  /** Steps of the longest run seen so far (controlled PCT's k; at least a default). */
  readonly steps: number;
  /** The longest a step is held, ms: far below the hang watchdog. */
  readonly capMs: number;
}

/** The default of `--chaos` (run in free mode, stress): chosen by measurement, docs/runtime.md "Chaos". */
export const DEFAULT_CHAOS: ChaosMode = 'pct';

export const CHAOS_OFF: ChaosOptions = { mode: 'off', delays: 0, depth: 1, steps: 1, capMs: 0 };

/** The settings per mode (docs/runtime.md "Chaos" has the measurements behind them). */
export function chaosOptions(mode: ChaosMode, steps = 64): ChaosOptions {
  switch (mode) {
    case 'off':
      return CHAOS_OFF;
    case 'random':
      return { mode, delays: 8, depth: 1, steps, capMs: 50 };
    case 'pct':
      return { mode, delays: 0, depth: 5, steps, capMs: 50 };
  }
}

export type { FreeDelay } from '../../protocol/free-delay.ts';
import type { FreeDelay } from '../../protocol/free-delay.ts';

/** How a step is to be held: until the others made `overtake` steps (null: until they stop), and why. */
export interface Hold {
  readonly overtake: number | null;
  readonly why: FreeDelay['why'];
}

/** Uniform in [0, 1) from a hash of the seed, a task and a step number, and a salt. */
function draw(seed: number, task: TaskId, n: number, salt: number): number {
  return stateValue(mix(mix(seed, seedOf(task)), mix(n, salt))) / 4294967296;
}

const SALT_HOLD = 1;
const SALT_OVERTAKE = 2;
const SALT_PRIO = 3;
const SALT_PICK = 4;

/** The decisions of one run, for one actor (each actor has its own, and they agree: they are functions of the seed). */
export class FreeChaos {
  readonly opts: ChaosOptions;
  private readonly seed: number;
  /** pct: each task's first change point, once scanned up to `scanned` (memo: decisions are functions, this only saves hashing). */
  private readonly demotedAt = new Map<TaskId, { at: number; scanned: number }>();
  /** The probability that a step is held (random) or a change point (pct). */
  private readonly holdRate: number;

  constructor(seed: number, opts: ChaosOptions) {
    this.seed = mix(seed, 0xc4a05);
    this.opts = opts;
    const k = Math.max(1, opts.steps);
    this.holdRate = opts.mode === 'pct' ? Math.min(0.25, Math.max(0, opts.depth - 1) / k) : opts.mode === 'random' ? Math.min(0.25, opts.delays / k) : 0;
  }

  /**
   * Holds one actor may make per run: the expected count for the whole run
   * (pct: depth-1, random: delays). It rarely binds once k is learnt; on a
   * first run, where k is a guess (64) and may be far too small, it bounds
   * the cost.
   */
  get budget(): number {
    return this.opts.mode === 'pct' ? Math.max(0, this.opts.depth - 1) : this.opts.mode === 'random' ? Math.ceil(this.opts.delays) : 0;
  }

  get on(): boolean {
    return this.opts.mode !== 'off';
  }

  /** Whether step `n` of `task` is held back, and how (null: it runs as it comes). */
  hold(task: TaskId, n: number): Hold | null {
    switch (this.opts.mode) {
      case 'off':
        return null;
      case 'random':
        if (draw(this.seed, task, n, SALT_HOLD) >= this.holdRate) return null;
        return { overtake: 1 + Math.floor(draw(this.seed, task, n, SALT_OVERTAKE) * Math.max(1, this.opts.steps)), why: 'random' };
      case 'pct':
        return this.isChangePoint(task, n) ? { overtake: null, why: 'change-point' } : null;
    }
  }

  private isChangePoint(task: TaskId, n: number): boolean {
    return n > 0 && draw(this.seed, task, n, SALT_HOLD) < this.holdRate;
  }

  /**
   * pct: the task's priority at its step `n` — its seeded initial priority
   * in (1, 2), or below every initial one from its first change point on
   * (later demotions rank lower, as in PCT: depth - i).
   */
  priority(task: TaskId, n: number): number {
    let d = this.demotedAt.get(task);
    if (d === undefined) {
      d = { at: -1, scanned: 0 };
      this.demotedAt.set(task, d);
    }
    while (d.at < 0 && d.scanned <= n) {
      if (this.isChangePoint(task, d.scanned)) d.at = d.scanned;
      d.scanned++;
    }
    const base = draw(this.seed, task, 0, SALT_PRIO);
    return d.at >= 0 && d.at <= n ? base / (2 + d.at) : 1 + base;
  }

  /**
   * Which of the sleepers on a ready queue a wake-up (a lock grant) goes to:
   * random: a seeded pick (salted with the queue's grant count, so repeated
   * grants differ); pct: the highest priority; off: the first to sleep.
   */
  pickSleeper(sleepers: readonly TaskId[], nextStep: (t: TaskId) => number, grant: number): number {
    if (sleepers.length <= 1) return 0;
    switch (this.opts.mode) {
      case 'off':
        return 0;
      case 'random':
        return Math.floor(draw(this.seed, sleepers[0] as TaskId, grant, SALT_PICK) * sleepers.length);
      case 'pct': {
        let bi = 0;
        let bp = -Infinity;
        sleepers.forEach((t, i) => {
          const p = this.priority(t, nextStep(t));
          if (p > bp) {
            bp = p;
            bi = i;
          }
        });
        return bi;
      }
    }
  }
}
