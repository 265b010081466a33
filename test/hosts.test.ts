import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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

describe('worker threads under node flags a worker cannot take', () => {
  it('node --single-threaded-gc (as npm start runs): the workers host leaves the V8 flag to the process instead of failing to start its workers', () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-v8flag-'));
    const r = spawnSync(process.execPath, ['--single-threaded-gc', 'bin/iommu-lab.mjs', 'run', 'runtime-abba', '--variant', 'order=ordered', '--host', 'workers', '--schedules', '3', '--out', out, '--json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ host: 'workers', schedules: 3, findings: [] });
  }, 120_000);
});
