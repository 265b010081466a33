import type { Envelope } from './envelope.ts';
import type { LockRef, TraceEvent } from './events.ts';
import type { ActorId, TaskId } from './ids.ts';
import { EMPTY_STACK, frames } from './stack.ts';
import type { WireStack } from './stack.ts';

/**
 * A scheduling decision handed to the actor that owns it. Scheduling points
 * are exactly these: a message delivery, the wake-up of a task sleeping on a
 * wait queue (lock grant, completion), and the resumption after `k.yield()`.
 */
export type StepCommand =
  | { readonly kind: 'deliver'; readonly msg: Envelope }
  | { readonly kind: 'wake'; readonly task: TaskId }
  | { readonly kind: 'resume'; readonly task: TaskId };

/** Where the stepped task stopped. */
export type Point =
  /** Sent a call (the last message in `out`) and waits for the reply. */
  | { readonly at: 'call' }
  /** Sleeps on a wait queue of this actor until the queue is ready and the scheduler wakes it. */
  | { readonly at: 'sleep'; readonly queue: string; readonly what: string; readonly on: LockRef | null }
  /** `k.yield()`: runnable again at once, but the scheduler may run others first. */
  | { readonly at: 'yield' }
  /** The handler returned: a reply (or, for an event, nothing) was sent. */
  | { readonly at: 'return' }
  /** The task cannot go on; a finding says why (crash, BUG, protocol error). */
  | { readonly at: 'abort'; readonly finding: AbortInfo };

export interface AbortInfo {
  /** `actor-stuck`: a step of a guarded actor overran the watchdog (a loop in a user's patch: runtime/user-code.ts). */
  readonly kind: 'actor-crash' | 'protocol-error' | 'kernel-bug' | 'actor-stuck';
  readonly actor: ActorId;
  readonly handler: string;
  readonly message: string;
  /** JavaScript stack of the failure, when there is one. */
  readonly jsStack: string | null;
  readonly stack: readonly string[];
}

/** A wait queue of an actor became ready (sleepers may be woken) or not. */
export interface QueueReady {
  readonly queue: string;
  readonly ready: boolean;
}

/** What one step did. Plain data: in the workers host it crosses a thread. */
export interface StepResult {
  readonly task: TaskId;
  /** The task's own step number (consecutive per task across actors). */
  readonly n: number;
  /** The stepped task's call stack in this actor. */
  readonly stack: WireStack;
  readonly point: Point;
  /** Messages sent during the step, in order. At most one belongs to the stepped task; the rest start new tasks. */
  readonly out: readonly Envelope[];
  readonly ready: readonly QueueReady[];
  readonly events: readonly TraceEvent[];
  /** Bookkeeping of the actor's own the step read or changed that no event describes (`k.touches`); absent when none. */
  readonly touched?: readonly string[] | undefined;
  /** Misuse of the kernel context noticed after an earlier step of this actor had ended. */
  readonly late?: readonly AbortInfo[] | undefined;
}

/**
 * The result of a step its actor could not run (its worker died, or its
 * state could not be restored): the task aborts with an actor crash, at the
 * handler the step would have run.
 */
export function crashResult(actor: ActorId, cmd: StepCommand, why: string, jsStack: string | null): StepResult {
  const task = cmd.kind === 'deliver' ? cmd.msg.task : cmd.task;
  const handler = cmd.kind === 'deliver' ? cmd.msg.op : cmd.kind;
  const stack = cmd.kind === 'deliver' ? cmd.msg.stack : EMPTY_STACK;
  return { task, n: 0, stack, point: { at: 'abort', finding: { kind: 'actor-crash', actor, handler, message: why, jsStack, stack: frames(stack) } }, out: [], ready: [], events: [] };
}
