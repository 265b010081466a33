import { SeededRng, mix } from '../rng.ts';
import type { Strategy } from './strategy.ts';
import type { TaskId } from '../../protocol/ids.ts';

/**
 * Probabilistic Concurrency Testing (Burckhardt, Kothari, Musuvathi,
 * Nagarakatte, ASPLOS 2010). Every task gets a random priority; the enabled
 * task with the highest priority runs; at d-1 random change points the
 * running task drops below every initial priority. A bug of depth d is found
 * with probability at least 1/(n·k^(d-1)) per execution (n tasks, k steps).
 *
 * Deviation: tasks appear while the execution runs (spawns), so a new task
 * draws its priority when first seen rather than from an initial permutation;
 * k is the longest execution seen so far (at least `minSteps`).
 */
export class PctStrategy implements Strategy {
  readonly name: string;
  private readonly seed: number;
  private readonly depth: number;
  private rng: SeededRng;
  /** Priorities are distinct: initial ones are depth + a fraction, change points give depth-1 ... 1. */
  private readonly priority = new Map<TaskId, number>();
  /** Step numbers at which the running task is demoted; length depth-1, sorted. */
  private changePoints: number[] = [];
  private nextChange = 0;
  private longest: number;

  constructor(seed: number, depth = 3, minSteps = 64) {
    this.seed = seed;
    this.depth = Math.max(1, depth);
    this.name = `pct(d=${this.depth})`;
    this.rng = new SeededRng(seed);
    this.longest = minSteps;
  }

  begin(execution: number): void {
    this.rng = new SeededRng(mix(this.seed, execution));
    this.priority.clear();
    const points: number[] = [];
    for (let i = 0; i < this.depth - 1; i++) points.push(1 + this.rng.int(this.longest));
    this.changePoints = points.sort((a, b) => a - b);
    this.nextChange = 0;
  }

  end(steps: number): void {
    if (steps > this.longest) this.longest = steps;
  }

  private prio(t: TaskId): number {
    let p = this.priority.get(t);
    if (p === undefined) {
      // distinct with overwhelming probability; ties break by creation order below
      p = this.depth + this.rng.next();
      this.priority.set(t, p);
    }
    return p;
  }

  private best(enabled: readonly TaskId[]): number {
    let bi = 0;
    let bp = -Infinity;
    for (let i = 0; i < enabled.length; i++) {
      const p = this.prio(enabled[i] as TaskId);
      if (p > bp) {
        bp = p;
        bi = i;
      }
    }
    return bi;
  }

  pick(enabled: readonly TaskId[], step: number): number {
    let i = this.best(enabled);
    while (this.nextChange < this.changePoints.length && (this.changePoints[this.nextChange] as number) <= step) {
      this.nextChange++;
      this.priority.set(enabled[i] as TaskId, this.depth - this.nextChange);
      i = this.best(enabled);
    }
    return i;
  }
}
