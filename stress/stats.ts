import { threadSched } from '../runtime/thread-sched.ts';
import { SeededRng } from '../runtime/rng.ts';

/**
 * A bounded uniform sample of a long stream of numbers (reservoir sampling),
 * so op latencies over a ten-minute run cost the same memory as over ten
 * seconds. Seeded: which values are kept does not depend on the clock.
 */
export class Reservoir {
  private readonly cap: number;
  private readonly rng = new SeededRng(0x7e5);
  private readonly items: number[] = [];
  private seen = 0;

  constructor(cap: number) {
    this.cap = cap;
  }

  add(x: number): void {
    this.seen++;
    if (this.items.length < this.cap) this.items.push(x);
    else {
      const j = this.rng.int(this.seen);
      if (j < this.cap) this.items[j] = x;
    }
  }

  /** The q-quantile (0..1) of the sample, nearest rank; 0 when empty. */
  quantile(q: number): number {
    if (this.items.length === 0) return 0;
    const sorted = [...this.items].sort((a, b) => a - b);
    const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
    return sorted[i] as number;
  }
}

/**
 * Resident memory sampled once a second. Every actor is a worker thread of
 * this process, so the process RSS is the whole system's. Keeps the peak
 * and one average per minute (a ten-minute run keeps ten numbers), which is
 * what the flatness check compares.
 */
export class RssSampler {
  private readonly t0 = performance.now();
  private timer: NodeJS.Timeout | null = null;
  private peak = 0;
  private readonly minutes: { sum: number; n: number }[] = [];
  private readonly onSample: ((mb: number, sec: number) => void) | null;

  constructor(onSample: ((mb: number, sec: number) => void) | null = null) {
    this.onSample = onSample;
  }

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.sample();
  }

  private sample(): void {
    const mb = process.memoryUsage.rss() / (1024 * 1024);
    const sec = (performance.now() - this.t0) / 1000;
    this.peak = Math.max(this.peak, mb);
    const m = Math.floor(sec / 60);
    while (this.minutes.length <= m) this.minutes.push({ sum: 0, n: 0 });
    const slot = this.minutes[m] as { sum: number; n: number };
    slot.sum += mb;
    slot.n++;
    this.onSample?.(mb, sec);
  }

  /** The peak: the larger of the samples and the kernel's own high-water mark (ru_maxrss). */
  peakMb(): number {
    return Math.max(this.peak, process.resourceUsage().maxRSS / 1024);
  }

  /** Average RSS of each minute of the run so far (MB). */
  perMinuteMb(): number[] {
    return this.minutes.filter((m) => m.n > 0).map((m) => m.sum / m.n);
  }
}

/**
 * How long the main thread went without turning its event loop, measured
 * two ways by one 5 ms timer (issue 19 item 6):
 *
 * - `maxBlockMs`: the longest wall-clock gap between two ticks, less the
 *   period — what a message waiting for the main thread saw. On a loaded
 *   machine it includes time the thread was runnable but not scheduled
 *   (at load 10 on 2 cores that alone reaches hundreds of ms).
 * - `maxBusyMs`: the most CPU time the thread itself ran between two ticks
 *   (Linux `/proc/thread-self/schedstat`, nanoseconds): the stretch its own
 *   work held the loop, whatever else the machine ran. null off Linux.
 *
 * On a quiet machine the two agree; the gap between them is the load.
 */
export class LoopBlockProbe {
  private readonly periodMs: number;
  private timer: NodeJS.Timeout | null = null;
  private lastWall = 0;
  private lastCpu: number | null = null;
  private wall = 0;
  private busy: number | null = null;

  constructor(periodMs = 5) {
    this.periodMs = periodMs;
  }

  start(): void {
    this.lastWall = performance.now();
    this.lastCpu = threadSched()?.cpuNs ?? null;
    this.busy = this.lastCpu === null ? null : 0;
    this.timer = setInterval(() => this.tick(), this.periodMs);
    this.timer.unref();
  }

  private tick(): void {
    const now = performance.now();
    const cpu = threadSched()?.cpuNs ?? null;
    this.wall = Math.max(this.wall, now - this.lastWall - this.periodMs);
    if (cpu !== null && this.lastCpu !== null && this.busy !== null) this.busy = Math.max(this.busy, (cpu - this.lastCpu) / 1e6);
    this.lastWall = now;
    this.lastCpu = cpu;
  }

  /** Stops the timer, counting the stretch since the last tick. */
  stop(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
    this.tick();
  }

  get maxBlockMs(): number {
    return Math.round(this.wall);
  }

  get maxBusyMs(): number | null {
    return this.busy === null ? null : Math.round(this.busy);
  }
}
