import { describe, expect, it } from 'vitest';
import { explore } from '../runtime/explore.ts';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { ExplorationPool } from '../runtime/pool.ts';
import { RandomStrategy } from '../runtime/strategies/random.ts';
import { findScenario } from '../scenarios/index.ts';

describe('parallel exploration in a piscina pool', () => {
  it('finds what a sequential exploration finds, at the same first schedule and with the same count', async () => {
    const variants = { order: 'abba' };
    const program = findScenario('runtime-abba').program(variants);
    const host = await InlineHost.create(program);
    const seq = await explore(host, program, new RandomStrategy(11), { seed: 11, schedules: 300 });
    await host.close();

    const pool = new ExplorationPool(2);
    try {
      const par = await pool.explore({ loader: { module: 'scenarios/index', export: 'loadBuiltin' }, key: { scenario: 'runtime-abba', variants }, strategy: 'random', seed: 11 }, 0, 300);
      expect(par.executions).toBe(300);
      expect(par.steps).toBe(seq.steps);
      expect(par.findings.map((f) => [f.finding.signature, f.firstSchedule, f.count, f.decisions])).toEqual(
        seq.findings.map((f) => [f.finding.signature, f.firstSchedule, f.count, f.decisions]),
      );
      expect(seq.findings[0]?.finding.kind).toBe('deadlock');
    } finally {
      await pool.close();
    }
  });
});
