import type { Finding } from '../protocol/findings.ts';
import type { TraceEvent } from '../protocol/events.ts';

/**
 * A checker observes the event stream of one execution, in the global order
 * the scheduler gives it, and reports findings. The same code runs online
 * (inside a run) and offline (over a saved trace).
 */
export interface Checker {
  readonly name: string;
  /** `step` is the index of the step that emitted the event. */
  onEvent(e: TraceEvent, step: number): void;
  /** Findings so far; the run collects them after every step. */
  drain(): readonly Finding[];
  /** The execution has ended (leak checks and the like); may be called more than once. */
  finish?(): void;
}

export const NO_FINDINGS: readonly Finding[] = [];

/** Findings a checker has made and the run has not collected yet: the `drain` half of a checker. */
export class FindingQueue {
  private items: Finding[] = [];

  push(f: Finding): void {
    this.items.push(f);
  }

  drain(): readonly Finding[] {
    if (this.items.length === 0) return NO_FINDINGS;
    const out = this.items;
    this.items = [];
    return out;
  }
}
