import { describe, expect, it } from 'vitest';
import { createHost } from '../cli/run-one.ts';
import { runExecution } from '../runtime/execution.ts';
import { RandomStrategy } from '../runtime/strategies/random.ts';
import { abbaProgram } from '../scenarios/runtime/abba.ts';

describe('hosts', () => {
  for (const kind of ['inline', 'workers'] as const) {
    it(`${kind}: a deadlock names both tasks and their held locks, and the control plane shows the lock manager's state`, async () => {
      const p = abbaProgram('abba');
      const host = await createHost(kind, p);
      try {
        const r = await runExecution(host, p, new RandomStrategy(7), { seed: 1, execution: 0 });
        expect(r.outcome).toBe('deadlock');
        const f = r.findings.find((x) => x.kind === 'deadlock')!;
        expect(f.tasks.map((t) => [t.task, t.held.length, t.waitsFor !== null])).toEqual([['t1', 1, true], ['t2', 1, true]]);
        expect(f.report).toContain('wait-for cycle');
        const state = (await host.inspect(p.lockManagers[0]!)) as { mutexes: { id: string; owner: string; waiters: number }[] };
        expect(state.mutexes.map((m) => [m.id, m.waiters]).sort()).toEqual([['A', 1], ['B', 1]]);
        expect(new Set(state.mutexes.map((m) => m.owner))).toEqual(new Set(['t1', 't2']));
        // a fresh execution starts from fresh state
        await host.reset();
        expect(await host.inspect(p.lockManagers[0]!)).toEqual({ mutexes: [], rwsems: [], completions: [] });
      } finally {
        await host.close();
      }
    });
  }
});
