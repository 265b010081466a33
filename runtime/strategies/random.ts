import { SeededRng, mix } from '../rng.ts';
import type { Strategy } from './strategy.ts';
import type { TaskId } from '../../protocol/ids.ts';

/** Uniformly random choice among the enabled steps (shuttle's RandomScheduler). */
export class RandomStrategy implements Strategy {
  readonly name = 'random';
  private readonly seed: number;
  private rng: SeededRng;

  constructor(seed: number) {
    this.seed = seed;
    this.rng = new SeededRng(seed);
  }

  begin(execution: number): void {
    this.rng = new SeededRng(mix(this.seed, execution));
  }

  pick(enabled: readonly TaskId[]): number {
    return enabled.length === 1 ? 0 : this.rng.int(enabled.length);
  }
}
