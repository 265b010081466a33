import { SeededRng } from '../runtime/rng.ts';

/**
 * The generator's and mutator's only source of randomness: runtime/rng.ts's
 * seeded generator with a few conveniences. Same seed, same choices.
 */
export class Rand {
  private readonly rng: SeededRng;

  constructor(seed: number) {
    this.rng = new SeededRng(seed);
  }

  /** Uniform integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.rng.int(hi - lo + 1);
  }

  int(n: number): number {
    return this.rng.int(n);
  }

  chance(p: number): boolean {
    return this.rng.chance(p);
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick from an empty list');
    return xs[this.rng.int(xs.length)] as T;
  }

  /** One of `xs` by weight: [[weight, value], ...]. */
  weighted<T>(xs: readonly (readonly [number, T])[]): T {
    const total = xs.reduce((n, [w]) => n + w, 0);
    let r = this.rng.next() * total;
    for (const [w, v] of xs) {
      if (r < w) return v;
      r -= w;
    }
    return (xs[xs.length - 1] as readonly [number, T])[1];
  }

  /** A random subset of `xs` (each kept with probability p), in order. */
  subset<T>(xs: readonly T[], p: number): T[] {
    return xs.filter(() => this.rng.chance(p));
  }

  u32(): number {
    return this.rng.u32();
  }
}
