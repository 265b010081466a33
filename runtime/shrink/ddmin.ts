/**
 * Delta debugging, minimizing variant (Zeller and Hildebrandt, "Simplifying
 * and Isolating Failure-Inducing Input", TSE 2002). Starting from a set of
 * items on which `test` holds, it tries the subsets and complements of an
 * ever finer partition and keeps the first one that still holds; the result
 * is 1-minimal: removing any single item makes `test` fail.
 *
 * `test` is only ever asked about a subset of the items in their original
 * order, each distinct subset at most once; the order of questions depends
 * on the answers alone, so a deterministic `test` gives a deterministic result.
 */

export interface DdminProgress {
  /** Subsets asked about so far. */
  readonly tests: number;
  /** Size of the smallest subset known to hold. */
  readonly size: number;
}

export async function ddmin<T>(
  items: readonly T[],
  test: (subset: readonly T[]) => Promise<boolean>,
  onProgress?: (p: DdminProgress) => void,
): Promise<T[]> {
  // Work on indices so a subset has a stable key for the cache.
  const answers = new Map<string, boolean>();
  let tests = 0;
  let current: number[] = items.map((_, i) => i);
  const holds = async (subset: readonly number[]): Promise<boolean> => {
    const key = subset.join(',');
    const known = answers.get(key);
    if (known !== undefined) return known;
    tests++;
    const ok = await test(subset.map((i) => items[i] as T));
    answers.set(key, ok);
    onProgress?.({ tests, size: ok ? subset.length : current.length });
    return ok;
  };

  let n = 2;
  while (current.length >= 2) {
    const chunks = partition(current, n);
    let next: number[] | null = null;
    let nextN = n;
    for (const c of chunks) {
      if (await holds(c)) {
        next = c;
        nextN = 2;
        break;
      }
    }
    // With two chunks each complement is the other chunk, already asked.
    if (next === null && n > 2) {
      for (let i = 0; i < chunks.length; i++) {
        const complement = chunks.filter((_, j) => j !== i).flat();
        if (await holds(complement)) {
          next = complement;
          nextN = Math.max(n - 1, 2);
          break;
        }
      }
    }
    if (next !== null) {
      current = next;
      n = nextN;
    } else if (n < current.length) {
      n = Math.min(2 * n, current.length);
    } else {
      break;
    }
  }
  return current.map((i) => items[i] as T);
}

/** `xs` cut into `n` contiguous chunks whose sizes differ by at most one (larger ones first). */
export function partition<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  const base = Math.floor(xs.length / n);
  const extra = xs.length % n;
  let at = 0;
  for (let i = 0; i < n; i++) {
    const size = base + (i < extra ? 1 : 0);
    out.push(xs.slice(at, at + size));
    at += size;
  }
  return out.filter((c) => c.length > 0);
}
