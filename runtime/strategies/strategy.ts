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
  /**
   * With `footprints`: told after each step of the exploration (not the
   * set-up) what it touched, so a reduction can judge dependence by what
   * steps did rather than by where they ran.
   */
  stepped?(step: number, touch: StepTouch): void;
  /** Told after each execution how many steps it took (PCT sizes its change points from this). */
  end?(steps: number): void;
  /** True once a systematic strategy has nothing left to explore (dfs): the exploration stops. */
  exhausted?(): boolean;
}

/**
 * What one step touched: the kernel objects' fields it read and wrote, as
 * `obj` → fields (`*` for the whole object: alloc, free, a lock's state, a
 * wait queue), and the tasks it created. Two steps of different tasks are
 * dependent when one writes what the other reads or writes.
 */
export interface StepTouch {
  readonly reads: ReadonlyMap<string, ReadonlySet<string>>;
  readonly writes: ReadonlyMap<string, ReadonlySet<string>>;
  readonly spawned: readonly TaskId[];
}
