import { describe, expect, it } from 'vitest';
import { kindsFound, printTable } from '../../cli/print.ts';
import type { RunReport } from '../../cli/run-one.ts';
import { NO_LOCK_STATS } from '../../checkers/lock-stats.ts';

const finding = (kind: 'data-race' | 'unguarded-access', signature: string) =>
  ({ kind, title: `${kind} in x`, signature, firstSchedule: 0, count: 1, replay: '', report: '' });

describe('compare prints each kind once (issue 15 item 5)', () => {
  it('two findings of one kind with different signatures print as kind×2', () => {
    const fs = [finding('unguarded-access', 'u|a'), finding('data-race', 'd|a|b'), finding('data-race', 'd|a|c'), finding('unguarded-access', 'u|b')];
    expect(kindsFound(fs)).toBe('unguarded-access×2,data-race×2');
    expect(kindsFound([finding('data-race', 'd')])).toBe('data-race');
    expect(kindsFound([])).toBe('clean');
  });

  it('the compare table never repeats a kind', () => {
    const row: RunReport = {
      scenario: 's', variants: { a: 'b' }, host: 'inline', mode: 'controlled', strategy: 'portfolio', seed: 1, schedules: 3, steps: 9,
      elapsedMs: 1, expected: ['data-race'], matched: true, findings: [finding('data-race', 'd|1'), finding('data-race', 'd|2')], truncated: 0, lockStats: NO_LOCK_STATS,
    };
    const table = printTable([row]);
    expect(table).toContain('data-race×2');
    expect(table).not.toContain('data-race,data-race');
  });
});
