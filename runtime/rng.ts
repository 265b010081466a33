// Seeded random numbers. Actor code gets these through `k.rng`; strategies
// and hosts use them for their own decisions. Nothing here reads a clock.

/** One step of mulberry32: returns the next state. The value is derived from the state. */
export function nextState(state: number): number {
  return (state + 0x6d2b79f5) | 0;
}

/** The uint32 value of a mulberry32 state. */
export function stateValue(state: number): number {
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}

/** Mixes two numbers into one 32-bit seed (used to derive task and execution seeds). */
export function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) | 0;
}

/** Hash of a string to a 32-bit seed (FNV-1a). */
export function seedOf(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  /** A uint32. */
  u32(): number;
}

/** A generator whose whole state is one number (so it can travel with a task's messages). */
export class SeededRng implements Rng {
  rngState: number;
  constructor(seed: number) {
    this.rngState = seed | 0;
  }
  u32(): number {
    this.rngState = nextState(this.rngState);
    return stateValue(this.rngState);
  }
  next(): number {
    return this.u32() / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}
