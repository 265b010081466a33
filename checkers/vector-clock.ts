import type { TaskId } from '../protocol/ids.ts';

/**
 * A vector clock over tasks (Lamport/Fidge/Mattern), the happens-before
 * bookkeeping of the race checker. A missing entry is 0. Mutable on purpose:
 * one clock per task, per lock and per completion is updated in place on
 * every synchronising event, and copies are taken only where a clock must be
 * frozen (a spawn in flight).
 *
 * An access is stamped with an epoch `c@t` (FastTrack, Flanagan & Freund,
 * PLDI 2009): the value of t's own entry when it made the access. The access
 * happens before everything whose clock has `clock.get(t) >= c`.
 */
export class VectorClock {
  private readonly entries: Map<TaskId, number>;

  constructor(entries?: ReadonlyMap<TaskId, number>) {
    this.entries = new Map(entries);
  }

  get(t: TaskId): number {
    return this.entries.get(t) ?? 0;
  }

  set(t: TaskId, n: number): void {
    this.entries.set(t, n);
  }

  /** Advances t's own entry: what t does next is no longer covered by clocks copied before. */
  tick(t: TaskId): void {
    this.entries.set(t, this.get(t) + 1);
  }

  /** Pointwise maximum, in place: after `a.join(b)`, everything b has seen happens before a's next step. */
  join(other: VectorClock): void {
    for (const [t, n] of other.entries) if (n > this.get(t)) this.entries.set(t, n);
  }

  copy(): VectorClock {
    return new VectorClock(this.entries);
  }

  /** True when the epoch `c@t` happens before (or is) the point this clock stands for. */
  covers(t: TaskId, c: number): boolean {
    return c <= this.get(t);
  }

  /** "{t1:3, t2:1}" for debugging output; tasks sorted so the text is stable. */
  toString(): string {
    const parts = [...this.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([t, n]) => `${t}:${n}`);
    return `{${parts.join(', ')}}`;
  }
}
