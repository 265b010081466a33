import type { TaskId } from './ids.ts';

/**
 * A free-mode step held back (runtime/hosts/free-chaos.ts), as the wire
 * carries it: the wire knows no host, so the type lives here.
 *
 * A step held back: which task, its own step number, where, why, for how many steps of the others, and how long it took.
 */
export interface FreeDelay {
  readonly task: TaskId;
  readonly n: number;
  readonly kind: 'deliver' | 'wake' | 'resume';
  /** `random`: a random hold; `change-point`: a PCT change point (the task is demoted from here on). */
  readonly why: 'random' | 'change-point';
  /** Steps the others were to make first; null: until nothing else moved. */
  readonly overtake: number | null;
  /** How long it was held (measured). */
  readonly ms: number;
}

