import type { ActorId } from '../../protocol/ids.ts';
import type { StepCommand, StepResult } from '../../protocol/step.ts';

export type HostKind = 'inline' | 'workers';

/**
 * Where the actors of a program live. Two implementations: `inline` (all
 * cells in this thread) and `workers` (one worker_thread per actor). The
 * controlled scheduler drives both through this interface and cannot tell
 * them apart: for the same decisions they produce the same step results.
 */
export interface Host {
  readonly kind: HostKind;
  /** Gives every actor fresh state for a new execution. */
  reset(): Promise<void>;
  /** Keeps a copy of every actor's state (the set-up snapshot); no task may be suspended anywhere. */
  snapshot(): Promise<void>;
  /** Every actor back to the last snapshot, for a new execution that starts from it. */
  restore(): Promise<void>;
  /**
   * Runs one step in `actor`; `done` is called when the stepped task reaches
   * its next scheduling point — possibly before this returns. The result is
   * valid until the next step of that actor.
   */
  executeThen(actor: ActorId, cmd: StepCommand, done: (r: StepResult) => void): void;
  /** A plain-data view of an actor's state (control plane). */
  inspect(actor: ActorId): Promise<unknown>;
  /** Stops every actor; afterwards the process can exit. */
  close(): Promise<void>;
}
