import path from 'node:path';
import { traceOfRecording } from '../../api/report.ts';
import { runRows } from '../../api/rows.ts';
import { renderCompareHtml, renderHtml } from '../../report/index.ts';
import type { HtmlRow } from '../../report/index.ts';
import { readReplayFile } from '../../runtime/replay-file.ts';
import type { RunReport } from '../run-one.ts';
import { allTruncated } from '../run-one.ts';
import { checkOutDir, writeAtomic } from '../output.ts';
import { InputError } from '../../runtime/input-error.ts';
import { BUILTIN, loadScenario } from '../../scenarios/index.ts';
import { assignments, variantKey } from '../../scenarios/scenario.ts';
import { HOST_FLAG, JSON_FLAG, MAX_STEPS_FLAG, OUT_DIR_FLAG, SEED_FLAG, has, int, parseArgs, str } from '../args.ts';
import type { CommandIo } from '../io.ts';
import { interruptCode, interrupted } from '../../runtime/interrupt.ts';
import { kindsFound, printTable } from '../print.ts';
import { Progress, duration } from '../progress.ts';
import type { ExploringStrategy } from '../../runtime/strategies/index.ts';
import type { Scenario } from '../../scenarios/scenario.ts';
import { HANG_FLAG, num } from '../args.ts';
import { setStepHang } from '../../runtime/user-code.ts';
import { againstBaseline } from '../run-one.ts';
import { baselineOf, sameAssignment } from '../verdict.ts';
import { BASELINE_FLAG, PREEMPTIONS_FLAG, STRATEGY_FLAG, STRICT_FLAG } from './run.ts';

/** Runs every variant assignment of one scenario (or of all) and prints the variant table. */
export async function compare(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('compare', argv, {
    all: { kind: 'bool', help: 'every built-in scenario' },
    schedules: { kind: 'value', arg: 'N', help: 'schedules per row (default 1000; dfs 20000, a cap on the search)' },
    time: { kind: 'value', arg: 'SECONDS', help: 'stop exploring each row after this long' },
    host: HOST_FLAG,
    strategy: STRATEGY_FLAG,
    preemptions: PREEMPTIONS_FLAG,
    baseline: BASELINE_FLAG,
    strict: STRICT_FLAG,
    seed: SEED_FLAG,
    out: OUT_DIR_FLAG,
    jobs: { kind: 'value', arg: 'N', help: 'rows run at once on worker threads (default: the cores; 1 runs them in turn)' },
    html: { kind: 'value', arg: 'FILE', help: 'also write the table as one HTML page, each finding linking its own page (report.html beside its replay)' },
    json: JSON_FLAG,
    'max-steps': MAX_STEPS_FLAG,
    hang: HANG_FLAG,
  });
  const hang = num(p, 'hang', 0.05);
  setStepHang(hang !== undefined ? hang * 1000 : undefined);
  if (has(p, 'all') === (p.positional.length === 1) || p.positional.length > 1) {
    throw new InputError('"compare" takes one scenario or --all');
  }
  const all = has(p, 'all');
  const scenarios = all ? BUILTIN : [await loadScenario(p.positional[0] as string)];
  const strategy = (str(p, 'strategy') ?? 'portfolio') as ExploringStrategy;
  if (has(p, 'preemptions') && strategy !== 'dfs') throw new InputError('--preemptions bounds --strategy dfs', null, '--preemptions');
  const time = num(p, 'time', 0);
  // per scenario, the baseline assignment (--all: a --baseline axis applies to the scenarios that have it)
  const given = p.flags.get('baseline') ?? [];
  if (all) {
    const axes = new Set(scenarios.flatMap((s) => Object.keys(s.variants)));
    for (const g of given) {
      const axis = g.slice(0, Math.max(0, g.indexOf('=')));
      if (!axes.has(axis)) throw new InputError(`--baseline ${g}: no scenario has a variant axis "${axis}"`, null, '--baseline');
    }
  }
  const baselines = new Map<Scenario, ReturnType<typeof baselineOf>>(
    scenarios.map((s) => [s, baselineOf(s, all ? given.filter((g) => g.slice(0, g.indexOf('=')) in s.variants) : given)]));
  const json = has(p, 'json');
  checkOutDir('--out', str(p, 'out') ?? 'out');
  const progress = new Progress(io, json);
  const rows = scenarios.flatMap((scenario) => assignments(scenario).map((variants) => ({ scenario, variants })));
  const jobs = str(p, 'jobs') === undefined ? undefined : int(p, 'jobs', 1, 1);
  progress.status(`[0/${rows.length}] running ${rows.length} rows${jobs === 1 ? '' : ' on worker threads'}`);
  const done = await runRows(rows, {
    host: (str(p, 'host') ?? 'inline') as 'inline' | 'workers',
    mode: 'controlled',
    strategy,
    schedules: int(p, 'schedules', 1, strategy === 'dfs' ? 20_000 : 1000),
    ...(time !== undefined ? { timeMs: time * 1000 } : {}),
    seed: int(p, 'seed', 0, 1),
    ...(has(p, 'max-steps') ? { maxSteps: int(p, 'max-steps', 1, 100_000) } : {}),
    out: str(p, 'out') ?? 'out',
    progress: progress.sink,
    strict: has(p, 'strict'),
    ...(strategy === 'dfs' ? { preemptions: int(p, 'preemptions', 0, 2) } : {}),
  }, {
    ...(jobs !== undefined ? { threads: jobs } : {}),
    // SIGINT/SIGTERM: rows not started yet are not started; the table has those that ran
    shouldStop: interrupted,
    onRow: ({ done: i, total, row, elapsedMs, remainingMs }) => {
      const found = kindsFound(row.findings);
      const left = i === total ? '' : `, about ${duration(remainingMs ?? 0)} left`;
      progress.status(`[${i}/${total}] ${row.scenario} ${variantKey(row.variants)}: ${found} ${row.matched ? 'OK' : 'MISMATCH'} (elapsed ${duration(elapsedMs)}${left})`);
    },
  });
  progress.end();
  // each row against its scenario's baseline row (same seed and strategy: the same schedules), when that row ran
  const reports = done.map((d) => {
    const s = scenarios.find((x) => x.name === d.report.scenario) as Scenario;
    const base = done.find((x) => x.report.scenario === s.name && sameAssignment(x.report.variants, baselines.get(s) ?? {}))?.report;
    return base === undefined || base === d.report ? d.report : againstBaseline(s, d.report, base);
  });
  const html = str(p, 'html');
  if (html !== undefined) await writeCompareHtml(html, reports, progress, (str(p, 'host') ?? 'inline') as 'inline' | 'workers');
  if (json) io.json({ rows: reports, ...(interrupted() ? { interrupted: true } : {}) });
  else io.out(printTable(reports) + (interrupted() ? 'interrupted: the rows above are what ran\n' : ''));
  return interruptCode() ?? (reports.every((r) => r.matched && !allTruncated(r)) ? 0 : 1);
}

/** `--html FILE`: each finding's page beside its replay (report.html), and the table linking them. */
async function writeCompareHtml(file: string, reports: readonly RunReport[], progress: Progress, host: 'inline' | 'workers'): Promise<void> {
  const rows: HtmlRow[] = [];
  const total = reports.reduce((n, r) => n + r.findings.length, 0);
  let n = 0;
  for (const r of reports) {
    const found: HtmlRow['found'][number][] = [];
    for (const f of r.findings) {
      let href: string | null = null;
      if (f.replay !== '') {
        progress.status(`[html ${++n}/${total}] ${f.title}`);
        const page = path.join(path.dirname(f.replay), 'report.html');
        writeAtomic(page, await renderHtml(await traceOfRecording(readReplayFile(f.replay), { host, file: f.replay })));
        href = path.relative(path.dirname(path.resolve(file)), path.resolve(page)).split(path.sep).join('/');
      }
      found.push({ kind: f.kind, title: f.title, href });
    }
    rows.push({
      scenario: r.scenario, variants: variantKey(r.variants),
      expected: r.expected === null ? '-' : r.expected.length === 0 ? 'clean' : r.expected.join(','),
      found, schedules: r.schedules, ok: r.matched,
    });
  }
  progress.end();
  writeAtomic(file, renderCompareHtml(rows, `iommu-lab compare: ${[...new Set(reports.map((r) => r.scenario))].join(', ')}`));
}
