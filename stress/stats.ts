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
