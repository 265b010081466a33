import { describe, expect, it } from 'vitest';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { RandomStrategy } from '../runtime/strategies/random.ts';
import { checkMatrix } from '../scenarios/checks/matrix.ts';
import { exploreCase } from '../scenarios/checks/run.ts';
import { pinnedSignatures, writePinned } from './helpers/signatures.ts';

/**
 * The same findings before and after a change to what events carry (issue
 * 19, item 2: access events carry the element a list or table operation
 * added or removed, not the container). Every finding signature of every
 * checker-matrix case and every seed row, on pinned seeds,
 * is compared with test/fixtures/finding-signatures.json (the seeds' half
 * in test/seeds.test.ts, on the run it makes anyway), which the code
 * before the change wrote (commit 055cc61, `WRITE_SIGNATURES=1`). A change
 * that loses or adds a finding on any of them fails here; a deliberate one
 * rewrites the file and says why in its commit.
 */
describe('finding signatures on the checker matrix', () => {
  it('are the pinned ones', async () => {
    const matrix: Record<string, string[]> = {};
    for (const c of checkMatrix()) {
      const host = await InlineHost.create(c.program);
      try {
        const x = await exploreCase(host, c, new RandomStrategy(7), { seed: 1, schedules: 30 });
        matrix[c.name] = [...x.signatures].sort();
      } finally {
        await host.close();
      }
    }
    const want = pinnedSignatures();
    if (process.env.WRITE_SIGNATURES === '1') writePinned({ ...want, matrix });
    // the pinned runs do find things: a fixture of empty lists would pin nothing
    expect(Object.values(want.matrix).flat().length).toBeGreaterThan(5);
    expect(matrix).toEqual(want.matrix);
  }, 300_000);
});
