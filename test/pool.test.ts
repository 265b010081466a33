import { describe, expect, it } from 'vitest';
import { explore } from '../runtime/explore.ts';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { ExplorationPool } from '../runtime/pool.ts';
import { RandomStrategy } from '../runtime/strategies/random.ts';
import { makeStrategy } from '../runtime/strategies/index.ts';
import type { TaskId } from '../protocol/ids.ts';
import { findScenario } from '../scenarios/index.ts';
import { compare } from '../api/index.ts';

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
      // strategies with a history are refused, not quietly cut into chunks that explore other schedules (below)
      for (const strategy of ['pct', 'portfolio', 'dfs'] as const) {
        await expect(pool.explore({ loader: { module: 'scenarios/index', export: 'loadBuiltin' }, key: { scenario: 'runtime-abba', variants }, strategy, seed: 11 }, 0, 30)).rejects.toThrow(/cannot cut a/);
      }
    } finally {
      await pool.close();
    }
  });
});

describe('which explorations a chunk can start in the middle of', () => {
  // executions of more than PCT's initial 64 steps: PCT's change points then depend on the longest execution before
  const program = findScenario('upstream-pciehp-three-party').program({ 'pciehp-unconfigure': 'reset-lock-held' });
  const decisionsFrom = async (strategy: 'pos' | 'portfolio', first: number, n: number): Promise<(readonly TaskId[])[]> => {
    const host = await InlineHost.create(program);
    const out: (readonly TaskId[])[] = [];
    try {
      await explore(host, program, makeStrategy(strategy, 3), { seed: 3, schedules: n, firstSchedule: first, onExecution: (r) => out.push(r.decisions) });
    } finally {
      await host.close();
    }
    return out;
  };
  it('pos: schedules 6..11 alone are schedules 6..11 of a whole run; portfolio (PCT inside): they are not', async () => {
    const wholePos = await decisionsFrom('pos', 0, 12);
    expect(await decisionsFrom('pos', 6, 6)).toEqual(wholePos.slice(6));
    const whole = await decisionsFrom('portfolio', 0, 12);
    expect(Math.max(...whole.map((d) => d.length))).toBeGreaterThan(64);
    expect(await decisionsFrom('portfolio', 6, 6)).not.toEqual(whole.slice(6));
  }, 60_000);
});

describe('compare on the worker pool', () => {
  it('gives the same rows and findings as the serial compare for the same seed', async () => {
    const scenarios = ['runtime-abba', 'seed-004-domain-alloc-vs-hot-remove', 'seed-003-dev-iommu-bits'];
    const strip = (r: Awaited<ReturnType<typeof compare>>): unknown => r.rows.map(({ elapsedMs: _e, ...row }) => row);
    const progress: string[] = [];
    const pooled = await compare(scenarios, { schedules: 60, seed: 5, threads: 2, onRow: (p) => progress.push(`${p.done}/${p.total}`) });
    const serial = await compare(scenarios, { schedules: 60, seed: 5, threads: 1 });
    expect(pooled.rows.length).toBe(7);
    expect(strip(pooled)).toEqual(strip(serial));
    // the rows found something (a comparison of two empty tables would prove nothing)
    expect(pooled.rows.flatMap((r) => r.findings.map((f) => f.kind))).toEqual(expect.arrayContaining(['deadlock', 'use-after-free', 'data-race']));
    expect(progress).toEqual(pooled.rows.map((_, i) => `${i + 1}/${pooled.rows.length}`));
  }, 300_000);
});
