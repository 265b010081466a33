import type { ActorId, TaskId } from './ids.ts';

export const FINDING_KINDS = [
  'lock-order-inversion', 'deadlock', 'hung-task', 'recursive-locking', 'lock-misuse', 'assert-held',
  'unguarded-access', 'data-race', 'use-after-free', 'refcount-underflow', 'refcount-leak',
  'isolation-breach', 'invariant-violation', 'stale-translation', 'kernel-warn', 'kernel-bug',
  'actor-crash', 'protocol-error', 'api-nonconformance', 'actor-stuck',
] as const;

export type FindingKind = (typeof FINDING_KINDS)[number];

export function isFindingKind(s: string): s is FindingKind {
  return (FINDING_KINDS as readonly string[]).includes(s);
}

/**
 * A hang caught by the free-mode watchdog is, replayed in controlled mode,
 * a state with no enabled step: the same failure seen by another detector.
 */
export function canonicalKind(k: FindingKind): FindingKind {
  return k === 'hung-task' ? 'deadlock' : k;
}

/** One task as a report shows it: its stack and the locks it holds. */
export interface TaskSnapshot {
  readonly task: TaskId;
  readonly stack: readonly string[];
  readonly held: readonly string[];
  /** What it is blocked on, in words ("mutex B (lock class B)", "reply from pci"), or null. */
  readonly waitsFor: string | null;
}

/** A problem found in one execution. */
export interface Finding {
  readonly kind: FindingKind;
  /** "<kind> in <actor>.<handler>" */
  readonly title: string;
  /** Stable across runs, seeds and hosts: kind plus the actor.handler sites. Used for deduplication. */
  readonly signature: string;
  readonly actor: ActorId | null;
  readonly handler: string | null;
  readonly tasks: readonly TaskSnapshot[];
  /** The kernel-style report text. */
  readonly report: string;
}
