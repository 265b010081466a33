import { describe, expect, it } from 'vitest';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { WorkersHost } from '../runtime/hosts/workers.ts';
import { RandomStrategy } from '../runtime/strategies/random.ts';
import { checkMatrix } from '../scenarios/checks/matrix.ts';
import { exploreCase, runChecked } from '../scenarios/checks/run.ts';

// Every flagged case of the race/lifetime matrix: the execution that shows
// the bug in the inline host shows the same findings, with the same reports,
// in the workers host (one worker thread per actor).
describe('race and lifetime findings are identical in the inline and workers hosts', () => {
  for (const c of checkMatrix().filter((x) => x.expected !== null)) {
    it(c.name, async () => {
      const inline = await InlineHost.create(c.program);
      const found = await exploreCase(inline, c, new RandomStrategy(5), { seed: 5, schedules: 200, untilFound: true });
      await inline.close();
      expect(found.first).not.toBeNull();
      const { execution, run } = found.first!;
      const workers = await WorkersHost.create(c.program);
      try {
        const w = await runChecked(workers, c.program, new RandomStrategy(5), 5, execution);
        expect(w.traceHash).toBe(run.traceHash);
        expect(w.findings.map((f) => [f.kind, f.signature, f.report])).toEqual(run.findings.map((f) => [f.kind, f.signature, f.report]));
        expect(w.findings.some((f) => f.kind === c.expected)).toBe(true);
      } finally {
        await workers.close();
      }
    });
  }
});
