import { SeededRng, mix } from '../rng.ts';
import type { Strategy } from './strategy.ts';
import type { TaskId } from '../../protocol/ids.ts';

/**
 * Partial Order Sampling, simplified (Yuan, Yang, Gu, CAV 2018): each
 * pending step carries a random priority; the highest runs; once a task's
 * step ran, its next step draws a fresh priority. Unlike uniform random
 * choice this does not favour the interleavings of long-running tasks.
 */
export class PosStrategy implements Strategy {
  readonly name = 'pos';
  private readonly seed: number;
  private rng: SeededRng;
  private readonly priority = new Map<TaskId, number>();

  constructor(seed: number) {
    this.seed = seed;
    this.rng = new SeededRng(seed);
  }

  begin(execution: number): void {
    this.rng = new SeededRng(mix(this.seed, execution));
    this.priority.clear();
  }

  pick(enabled: readonly TaskId[]): number {
    let bi = 0;
    let bp = -1;
    for (let i = 0; i < enabled.length; i++) {
      const t = enabled[i] as TaskId;
      let p = this.priority.get(t);
      if (p === undefined) {
        p = this.rng.next();
        this.priority.set(t, p);
      }
      if (p > bp) {
        bp = p;
        bi = i;
      }
    }
    this.priority.delete(enabled[bi] as TaskId);
    return bi;
  }
}
