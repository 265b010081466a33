import { threadSched } from '../thread-sched.ts';
import type { ThreadSched } from '../thread-sched.ts';

/** Steps between two looks at the main thread's run-queue wait. */
const WINDOW = 128;
/** A window whose steps waited longer than this for a CPU, on average, while polling (ns): the cores are wanted elsewhere. */
const CONTENDED_NS = 10_000;
/** The longest stretch of windows without a poll before the next trial window. */
const MAX_BACKOFF = 64;
/** How long one step polls before it leaves the result to the event loop (ms). */
export const POLL_MS = 1;

/**
 * Whether a controlled step of the workers host polls its port for the
 * result (WorkersHost.poll) instead of sleeping in the event loop until it
 * lands. Polling spares the step one of its two thread wake-ups, but it
 * holds a CPU while the actor's thread runs: alone on the 2-core machine the
 * 16-actor ring ran at 28–30k steps/s against 17k, and two runs at once fell
 * to 3.5–4k each against 18–19k (issue 19, session 19; docs/runtime.md).
 * What tells the two apart is how long the main thread waits for a CPU:
 * 0–1 µs per step alone, 35–107 µs per step against another run (Linux
 * schedstat). So each window of steps that polled is judged by that wait;
 * a contended one turns polling off for 1, 2, 4 … 64 windows before it is
 * tried again. Where there is no schedstat (not Linux) it never polls.
 * Only timing depends on this: a result taken by the poll is handled
 * exactly as the listener would handle it.
 */
export class ResultPoll {
  private readonly clock: () => ThreadSched | null;
  private polling: boolean;
  private steps = 0;
  private start: ThreadSched | null;
  private offWindows = 0;
  private backoff = 1;

  constructor(clock: () => ThreadSched | null = threadSched) {
    this.clock = clock;
    this.start = clock();
    this.polling = this.start !== null;
  }

  /** Counts a step; says whether it should poll. */
  step(): boolean {
    if (++this.steps >= WINDOW) this.judge();
    return this.polling;
  }

  private judge(): void {
    const now = this.clock();
    if (now === null || this.start === null) {
      this.polling = false;
      return;
    }
    if (this.polling) {
      if ((now.waitNs - this.start.waitNs) / this.steps > CONTENDED_NS) {
        this.polling = false;
        this.offWindows = this.backoff;
        this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF);
      } else {
        this.backoff = 1;
      }
    } else if (--this.offWindows <= 0) {
      this.polling = true;
    }
    this.start = now;
    this.steps = 0;
  }
}
