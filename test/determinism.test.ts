import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExecution } from '../runtime/execution.ts';
import type { ExecutionResult } from '../runtime/execution.ts';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { WorkersHost } from '../runtime/hosts/workers.ts';
import type { Host } from '../runtime/hosts/host.ts';
import { ReplayStrategy } from '../runtime/strategies/replay.ts';
import { makeStrategy } from '../runtime/strategies/index.ts';
import type { ExploringStrategy } from '../runtime/strategies/index.ts';
import { churnProgram } from './programs/churn.ts';

const program = churnProgram(4, 3);
const SEEDS = Array.from({ length: 20 }, (_, i) => i + 1);

async function once(host: Host, strategy: ExploringStrategy, seed: number): Promise<ExecutionResult> {
  await host.reset();
  return runExecution(host, program, makeStrategy(strategy, seed), { seed, execution: seed, record: true });
}

describe('determinism contract', () => {
  let inline: InlineHost;
  let workers: WorkersHost;
  beforeAll(async () => {
    inline = await InlineHost.create(program);
    workers = await WorkersHost.create(program);
  });
  afterAll(async () => {
    await inline.close();
    await workers.close();
  });

  for (const strategy of ['random', 'pct'] as const) {
    it(`${strategy}: same seed gives the same trace hash, 20 seeds, inline and workers alike`, async () => {
      const hashes = new Set<string>();
      for (const seed of SEEDS) {
        const a = await once(inline, strategy, seed);
        const b = await once(inline, strategy, seed);
        const w = await once(workers, strategy, seed);
        expect(a.outcome).toBe('completed');
        expect(b.traceHash).toBe(a.traceHash);
        expect(w.traceHash).toBe(a.traceHash);
        expect(w.decisions).toEqual(a.decisions);
        expect(w.trace).toEqual(a.trace);
        expect(w.results).toEqual(a.results);
        hashes.add(a.traceHash);
      }
      // the seeds really explore different schedules (a constant hash would pass the checks above)
      expect(hashes.size).toBeGreaterThan(15);
    });
  }

  it('the same decisions replay to the same trace in the other host', async () => {
    const a = await once(inline, 'random', 99);
    await workers.reset();
    const w = await runExecution(workers, program, new ReplayStrategy(a.decisions), { seed: 99, record: true });
    expect(w.divergence).toBeNull();
    expect(w.trace).toEqual(a.trace);
    expect(w.traceHash).toBe(a.traceHash);
  });

  it('a replay whose recorded step is not enabled reports the divergence', async () => {
    const a = await once(inline, 'random', 5);
    const bad = [...a.decisions];
    bad[3] = 'no-such-task' as (typeof bad)[number];
    await inline.reset();
    const r = await runExecution(inline, program, new ReplayStrategy(bad), { seed: 5 });
    expect(r.outcome).toBe('replay-diverged');
    expect(r.divergence).toContain('step 3');
  });
});
