import { lockingSelftestCases } from './cases.ts';
import type { SelftestCase } from './cases.ts';
import { Lockdep } from '../../checkers/lockdep/lockdep.ts';
import { explore } from '../../runtime/explore.ts';
import type { Host } from '../../runtime/hosts/host.ts';
import type { Program } from '../../runtime/program.ts';
import { RandomStrategy } from '../../runtime/strategies/random.ts';
import type { Finding, FindingKind } from '../../protocol/findings.ts';

/** Builds a host for one program (`InlineHost.create`, or the workers host's equivalent). */
export type HostFactory = (program: Program) => Promise<Host>;

/** One line of `iommu-lab selftest locking --json` (docs CLI.md: the public contract). */
export interface SelftestCaseResult {
  readonly name: string;
  readonly expected: FindingKind | null;
  readonly observed: FindingKind | null;
  readonly pass: boolean;
}

export interface SelftestReport {
  readonly cases: readonly SelftestCaseResult[];
}

export interface SelftestOptions {
  /** Schedules per case (seeded random strategy); every one must match. Default 3. */
  readonly schedules?: number;
  /** Seed of the strategy and of the tasks' random streams. Default 1. */
  readonly seed?: number;
  /** Runs only the cases this accepts. */
  readonly filter?: (c: SelftestCase) => boolean;
}

/**
 * What one execution shows for a case: the expected kind if it was found
 * (a self-deadlocking AA also reports `deadlock`; that does not hide the
 * recursive-locking report), otherwise the first finding's kind, or null.
 */
export function observedKind(findings: readonly Finding[], expected: FindingKind | null): FindingKind | null {
  if (expected !== null && findings.some((f) => f.kind === expected)) return expected;
  return findings[0]?.kind ?? null;
}

/** Runs one case for `schedules` executions; the observation is the first that differs from the expectation, if any. */
export async function runSelftestCase(host: Host, c: SelftestCase, schedules: number, seed: number): Promise<SelftestCaseResult> {
  let observed: FindingKind | null = c.expected;
  let pass = true;
  await explore(host, c.program, new RandomStrategy(seed), {
    seed,
    schedules,
    checkers: () => [new Lockdep()],
    onExecution: (r) => {
      const o = observedKind(r.findings, c.expected);
      if (o !== c.expected && pass) {
        pass = false;
        observed = o;
      }
    },
  });
  return { name: c.name, expected: c.expected, observed, pass };
}

/**
 * The locking selftest: every case of the matrix with lockdep on, a few
 * seeded random schedules each. Inversion cases run their tasks one after
 * another, so they pass only if lockdep predicts from the first schedule.
 */
export async function runLockingSelftest(hostFactory: HostFactory, opts: SelftestOptions = {}): Promise<SelftestReport> {
  const schedules = opts.schedules ?? 3;
  const seed = opts.seed ?? 1;
  const cases: SelftestCaseResult[] = [];
  for (const c of lockingSelftestCases()) {
    if (opts.filter !== undefined && !opts.filter(c)) continue;
    const host = await hostFactory(c.program);
    try {
      cases.push(await runSelftestCase(host, c, schedules, seed));
    } finally {
      await host.close();
    }
  }
  return { cases };
}

/**
 * The text form of `selftest locking`, shaped like the kernel's boot-time
 * table (lib/locking-selftest.c: locking_selftest) and its closing line.
 */
export function printSelftestReport(report: SelftestReport): string {
  const col = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));
  const width = Math.max(30, ...report.cases.map((c) => c.name.length));
  const rule = '-'.repeat(width + 54);
  let s = '------------------------\n| Locking API testsuite:\n' + rule + '\n';
  s += `  ${col('', width)} | ${col('expected', 22)} | ${col('observed', 22)} |\n` + rule + '\n';
  let failed = 0;
  for (const c of report.cases) {
    if (!c.pass) failed++;
    s += `  ${col(c.name, width)} | ${col(c.expected ?? 'none', 22)} | ${col(c.observed ?? 'none', 22)} | ${c.pass ? ' ok' : 'FAILED'}\n`;
  }
  s += rule + '\n';
  s += failed === 0
    ? `Good, all ${report.cases.length} testcases passed! |\n`
    : `BUG: ${failed} unexpected failures (out of ${report.cases.length}) |\n`;
  return s + '---------------------------------\n';
}
