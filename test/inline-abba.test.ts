import { describe, expect, it } from 'vitest';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { runExecution } from '../runtime/execution.ts';
import { RandomStrategy } from '../runtime/strategies/random.ts';
import { abbaProgram } from '../scenarios/runtime/abba.ts';

describe('inline host, ABBA', () => {
  it('random exploration finds the deadlock and names both tasks with their held locks', async () => {
    const p = abbaProgram('abba');
    const host = await InlineHost.create(p);
    const st = new RandomStrategy(7);
    await host.reset();
    const r = await runExecution(host, p, st, { seed: 1, execution: 0 });
    expect(r.outcome).toBe('deadlock');
    const f = r.findings[0]!;
    expect(f.kind).toBe('deadlock');
    expect(f.tasks.map((t) => t.task).sort()).toEqual(['t1', 't2']);
    expect(f.report).toContain('wait-for cycle');
  });
});
