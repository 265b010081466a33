import type { TaskId } from '../../protocol/ids.ts';

/** `pick` may return this to end an execution whose every continuation was explored already (dfs). */
export const PRUNE = -2;

/**
 * A scheduling strategy: told when a new execution starts, asked to pick the
 * next step among the enabled ones. Each task has at most one pending step,
 * so a step is named by its task. `enabled` lists tasks in creation order,
 * which is deterministic. Strategies never see runtime internals.
 */
export interface Strategy {
  readonly name: string;
  /** A new execution starts; `execution` counts from 0 within a run. */
  begin(execution: number): void;
  /**
   * Returns an index into `enabled` (never empty), -1 when it cannot go on
   * (a replay that diverged), or PRUNE when every continuation from here was
   * explored already. `where[i]` is the actor where `enabled[i]`'s step
   * runs, or with `footprints` what it may touch (steps with different
   * footprints commute).
   */
  pick(enabled: readonly TaskId[], step: number, where: readonly string[]): number;
  /** Asks for footprints finer than the actor in `where` (dfs's reduction). */
  readonly footprints?: boolean;
  /** Told after each execution how many steps it took (PCT sizes its change points from this). */
  end?(steps: number): void;
  /** True once a systematic strategy has nothing left to explore (dfs): the exploration stops. */
  exhausted?(): boolean;
}
