import { beforeAll, describe, expect, it } from 'vitest';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { lockingSelftestCases } from '../scenarios/selftest/cases.ts';
import type { SelftestCase } from '../scenarios/selftest/cases.ts';
import { observedKind, printSelftestReport, runLockingSelftest, runSelftestCase } from '../scenarios/selftest/run.ts';
import type { SelftestReport } from '../scenarios/selftest/run.ts';
import type { Finding } from '../protocol/findings.ts';

const cases = lockingSelftestCases();

describe('locking selftest matrix', () => {
  it('covers the shapes of lib/locking-selftest.c and the model-specific ones', () => {
    const names = cases.map((c) => c.name);
    for (const shape of ['AA', 'ABBA', 'ABBCCA', 'ABCABC', 'ABBCCDDA', 'ABCDBDDA', 'ABCDBCDA', 'double unlock', 'unlock of an unheld lock',
      'lock held at exit', 'rwsem read-read', 'rwsem read/write ABBA', 'trylock ABBA', 'completion wait under lock vs completer taking it',
      'parent-child device_lock', 'parent-child device_lock nested']) {
      expect(names).toContain(shape);
    }
    expect(new Set(names).size).toBe(names.length);
    expect(cases.length).toBe(29);
    expect(cases.filter((c) => c.expected === null).length).toBe(9);
  });

  it('each program is plain data (it must cross to worker threads)', () => {
    for (const c of cases) expect(structuredClone(c.program)).toEqual(c.program);
  });
});

describe('locking selftest in the inline host', () => {
  let report: SelftestReport;
  beforeAll(async () => {
    report = await runLockingSelftest((p) => InlineHost.create(p), { schedules: 3, seed: 1 });
  });

  it('has the public JSON shape of `selftest locking --json`', () => {
    expect(report.cases.length).toBe(cases.length);
    for (const c of report.cases) expect(Object.keys(c).sort()).toEqual(['expected', 'name', 'observed', 'pass']);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });

  it.each(cases.map((c) => [c.name, c.expected] as const))('%s → %s', (name, expected) => {
    const r = report.cases.find((c) => c.name === name);
    expect(r).toEqual({ name, expected, observed: expected, pass: true });
  });

  it('prints the kernel-style table', () => {
    const text = printSelftestReport(report);
    expect(text).toContain('| Locking API testsuite:');
    expect(text).toMatch(/\n  ABBA +\| lock-order-inversion +\| lock-order-inversion +\|  ok\n/);
    expect(text).toContain(`Good, all ${cases.length} testcases passed! |`);
    const bad = printSelftestReport({ cases: [{ name: 'ABBA', expected: null, observed: 'lock-order-inversion', pass: false }] });
    expect(bad).toContain('| none                   | lock-order-inversion   | FAILED');
    expect(bad).toContain('BUG: 1 unexpected failures (out of 1) |');
  });

  it('passes with other seeds too', async () => {
    const other = await runLockingSelftest((p) => InlineHost.create(p), { schedules: 2, seed: 424242 });
    expect(other.cases.filter((c) => !c.pass)).toEqual([]);
  });
});

describe('locking selftest runner', () => {
  it('fails a case whose expectation is wrong and says what it saw', async () => {
    const abba = cases.find((c) => c.name === 'ABBA') as SelftestCase;
    const clean = cases.find((c) => c.name === 'ABAB same order') as SelftestCase;
    const h1 = await InlineHost.create(abba.program);
    expect(await runSelftestCase(h1, { ...abba, expected: null }, 2, 1)).toEqual({ name: 'ABBA', expected: null, observed: 'lock-order-inversion', pass: false });
    const h2 = await InlineHost.create(clean.program);
    expect(await runSelftestCase(h2, { ...clean, expected: 'lock-order-inversion' }, 2, 1)).toEqual({ name: 'ABAB same order', expected: 'lock-order-inversion', observed: null, pass: false });
  });

  it('observes the expected kind first, else the first finding', () => {
    const f = (kind: Finding['kind']): Finding => ({ kind, title: '', signature: kind, actor: null, handler: null, tasks: [], report: '' });
    expect(observedKind([f('deadlock'), f('recursive-locking')], 'recursive-locking')).toBe('recursive-locking');
    expect(observedKind([f('deadlock'), f('recursive-locking')], null)).toBe('deadlock');
    expect(observedKind([], 'lock-misuse')).toBe(null);
  });
});

describe('locking selftest in the workers host', () => {
  it('every case matches its expectation with one worker thread per actor, as the CLI runs it', async () => {
    const { main } = await import('../cli/main.ts');
    let json = '';
    const code = await main(['selftest', 'locking', '--host', 'workers', '--schedules', '1', '--json'], {
      out: () => {},
      err: () => {},
      json: (d) => void (json = JSON.stringify(d)),
    });
    const report = JSON.parse(json) as { cases: { name: string; expected: string | null; observed: string | null; pass: boolean }[] };
    expect(report.cases.filter((c) => !c.pass)).toEqual([]);
    expect(report.cases.length).toBe(29);
    expect(code).toBe(0);
  }, 120_000);
});
