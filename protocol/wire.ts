import type { FreeDelay } from './free-delay.ts';
import type { Envelope } from './envelope.ts';
import type { ActorId, TaskId } from './ids.ts';
import type { WireStack } from './stack.ts';
import type { PatchRef } from './patch-ref.ts';
import type { AbortInfo, StepCommand, StepResult } from './step.ts';

/**
 * Data-plane frames between the main thread and one actor worker. (The
 * control plane — reset, inspect, free-mode set-up, logs — goes through
 * comlink on a port of its own.)
 */
export type ToWorker =
  /** Controlled mode: run this step now. */
  | { readonly t: 'step'; readonly cmd: StepCommand }
  /** Free mode: a root message from the task's starter. */
  | { readonly t: 'inject'; readonly msg: Envelope }
  /**
   * Back to the snapshot (`restore`) or to a fresh state (`reset`), for the
   * next schedule: on the data port, ahead of the schedule's first step, and
   * in controlled mode not answered unless it failed, so nobody waits for it
   * (issue 19: comlink's round trip per schedule cost 6%, and an answer per
   * actor wakes the main thread as often again). In free mode it is answered:
   * the other actors' messages come on other ports, so the round may start
   * only when every actor is back.
   */
  | { readonly t: 'restore' }
  | { readonly t: 'reset' }
  /** Answered with `fenced` once every frame before it is done: a control call (another port, not ordered with this one) waits for it. */
  | { readonly t: 'fence' };

export type FromWorker =
  | { readonly t: 'result'; readonly r: StepResult }
  /** Free mode: a task's root handler replied (the task ended) or a spawned task returned. */
  | { readonly t: 'end'; readonly task: TaskId; readonly value: unknown }
  /** Free mode: a task could not go on. */
  | { readonly t: 'abort'; readonly task: TaskId; readonly info: AbortInfo }
  /** A `restore` or `reset` is done (free mode) or failed, and why (the steps after it end as actor crashes). */
  | { readonly t: 'renewed'; readonly error: string | null }
  /** Every data frame sent before the `fence` is done. */
  | { readonly t: 'fenced' };

/** Free mode: what one executed step did, as the actor that ran it logged it. */
export interface FreeLogEntry {
  readonly task: TaskId;
  /** The task's own step number. */
  readonly n: number;
  readonly kind: StepCommand['kind'];
  readonly point: StepResult['point'];
  /** The stack of the step's handler invocation (for hang reports). */
  readonly stack: WireStack;
  /** The task ended with this step. */
  readonly end: boolean;
  readonly events: StepResult['events'];
}

/**
 * One actor's record of a free run. The order is kept compactly (task and
 * the task's own step number per executed step: step numbers are
 * consecutive per task, so the logs of different actors merge into one
 * order); what each step did is kept when the run keeps events.
 */
export interface FreeLog {
  readonly actor: ActorId;
  readonly tasks: readonly TaskId[];
  readonly ns: readonly number[];
  /** One entry per executed step, when events are kept; otherwise null. */
  readonly details: readonly FreeLogEntry[] | null;
  /** The last step each task ran in this actor (hang reports need it even without details). */
  readonly last: readonly FreeLogEntry[];
  /**
   * Steps this actor held back under chaos (runtime/hosts/free-chaos.ts), in
   * the order it held them; absent or empty when chaos is off. The order
   * above is what ran, delays included, so it replays as it is.
   */
  readonly delays?: readonly FreeDelay[];
}

/** What a worker needs to start. */
export interface WorkerBoot {
  readonly actor: ActorId;
  readonly module: string;
  readonly export: string;
  readonly patches: readonly PatchRef[];
  readonly config: unknown;
  readonly actors: readonly ActorId[];
  readonly lockManagers: readonly ActorId[];
  /** A guarded actor's user-code slot (runtime/user-code.ts). */
  readonly userSlot?: SharedArrayBuffer;
}
