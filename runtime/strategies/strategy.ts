import type { TaskId } from '../../protocol/ids.ts';

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
  /** Returns an index into `enabled` (never empty), or -1 when it cannot go on (a replay that diverged). */
  pick(enabled: readonly TaskId[], step: number): number;
  /** Told after each execution how many steps it took (PCT sizes its change points from this). */
  end?(steps: number): void;
}
