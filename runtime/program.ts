import type { ActorId, TaskId } from '../protocol/ids.ts';
import type { PatchRef } from '../protocol/patch-ref.ts';

/** One actor instance: which definition to load and its configuration. Plain data. */
export interface ActorSpec {
  readonly id: ActorId;
  /** Package-relative module ("actors/lock-manager"), or a file path/URL for user modules. */
  readonly module: string;
  /** The export holding the ActorDef (defaults to "default"). */
  readonly export?: string;
  readonly config?: unknown;
  /** Patches laid over the definition's handlers, in order (runtime/patch.ts). */
  readonly patches?: readonly PatchRef[];
}

/** A task the program starts: a root call into an actor. */
export interface TaskSpec {
  readonly id: TaskId;
  readonly to: ActorId;
  readonly op: string;
  readonly body?: unknown;
}

/**
 * What one execution runs: actors, lock-manager shards, and the concurrent
 * tasks. Plain, structured-clone-safe data, so the same program goes to
 * worker threads and pool workers unchanged.
 */
export interface Program {
  readonly name: string;
  readonly actors: readonly ActorSpec[];
  readonly lockManagers: readonly ActorId[];
  readonly tasks: readonly TaskSpec[];
  /**
   * Tasks that set the system up (a kernel program's boot). In controlled
   * mode they run first, alone and with fixed choices, until every task they
   * started has ended; only then do the other tasks start. Being
   * deterministic, the set-up is run once per exploration and snapshotted.
   */
  readonly setup?: readonly TaskId[];
  /**
   * Actors whose every change to shared state is recorded as an event
   * (`k.read`/`k.write`, alloc/free/get/put/use): a partial-order reduction
   * may judge their steps by the objects they touched. Any other actor's
   * steps are all dependent with each other (runtime/strategies/dfs.ts).
   */
  readonly recordedState?: readonly ActorId[];
}
