import type { ActorId, MsgId, TaskId } from './ids.ts';
import type { WireStack } from './stack.ts';

export type MessageKind = 'call' | 'reply' | 'event';

/**
 * One message between actors. Structured-clone safe: plain data only.
 *
 * A task's counters travel with its messages so that ids, step numbers and
 * random numbers depend only on the task's own history, never on how the
 * tasks interleave or on which host runs them.
 */
export interface Envelope {
  readonly id: MsgId;
  readonly from: ActorId;
  readonly to: ActorId;
  readonly task: TaskId;
  readonly kind: MessageKind;
  readonly op: string;
  readonly body: unknown;
  /**
   * Call stack of the task at the receiver: "actor:op" frames, outermost
   * first, joined by newlines (see protocol/stack.ts). One string rather than
   * an array, because it is copied and cloned at every hop. A reply carries
   * the replying handler's stack; the caller's is that without its last
   * frame (popped only where a report needs it).
   */
  readonly stack: WireStack;
  /** For a reply, the call it answers; otherwise the message being handled when this one was sent. */
  readonly cause: MsgId | null;
  /** The task's next message sequence number. */
  readonly seq: number;
  /** The task's step number at which this message will be delivered. */
  readonly step: number;
  /** The task's random-number generator state. */
  readonly rng: number;
}

/** The body of a reply: a handler's return value, or a kernel-side failure already reported as a finding. */
export type ReplyBody =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly reason: string };
