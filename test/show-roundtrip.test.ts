import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BUILTIN, findScenario } from '../scenarios/index.ts';
import { cli } from './helpers/cli.ts';

/**
 * Issue 18 item 4: `show` gives a runnable document for every built-in.
 * Through the command users run (`node bin/iommu-lab.mjs`, the compiled
 * CLI): `show X > x.json`, then `compare x.json` gives the same rows as
 * `compare X` — the same variants, verdicts, steps and findings — for every
 * built-in, whatever it is made of (kernel topology and tasks, a scenario
 * axis choosing ops, fixed model variants, or raw programs).
 */

const exec = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../bin/iommu-lab.mjs');
const tmp = mkdtempSync(path.join(tmpdir(), 'iommu-lab-show-'));

/** The JSON a command prints; exit 1 (a row that did not match its expectation at this small budget) is an answer too. */
async function cliJson(...args: string[]): Promise<unknown> {
  try {
    const { stdout } = await exec(process.execPath, [BIN, ...args], { maxBuffer: 64 << 20, timeout: 240_000 });
    return JSON.parse(stdout);
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    if (x.code === 1 && x.stdout !== undefined && x.stdout !== '') return JSON.parse(x.stdout);
    throw new Error(`iommu-lab ${args.join(' ')}: exit ${String(x.code)}: ${x.stderr ?? ''}`);
  }
}

interface Row {
  readonly scenario: string;
  readonly variants: Record<string, string>;
  readonly matched: boolean;
  readonly expected: unknown;
  readonly steps: number;
  readonly schedules: number;
  readonly findings: readonly { readonly kind: string; readonly signature: string }[];
}

/** What must be the same: everything a row says about the run except where files went and how long it took. */
const essence = (rows: readonly Row[]) => rows.map((r) => ({
  scenario: r.scenario, variants: r.variants, matched: r.matched, expected: r.expected, steps: r.steps, schedules: r.schedules,
  findings: r.findings.map((f) => `${f.kind} ${f.signature}`).sort(),
}));

/** Runs `f` over `xs`, two at a time (the machine has two cores). */
async function pairs<T, R>(xs: readonly T[], f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(xs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < xs.length) {
      const i = next++;
      out[i] = await f(xs[i] as T);
    }
  };
  await Promise.all([worker(), worker()]);
  return out;
}

describe('show round-trips every built-in (issue 18 item 4)', () => {
  it('show X > x.json && compare x.json gives the same rows as compare X, for all built-ins', async () => {
    const names = BUILTIN.map((s) => s.name);
    expect(names.length).toBeGreaterThanOrEqual(15);
    const common = ['--schedules', '5', '--seed', '7', '--jobs', '1', '--json'];
    // every built-in by name, in one run (the rows in BUILTIN order)
    const all = (await cliJson('compare', '--all', ...common, '--out', path.join(tmp, 'by-name'))) as { rows: Row[] };
    const results = await pairs(names, async (name) => {
      const doc = await cliJson('show', name);
      // a document, not a description: the fields run takes
      expect(doc, name).toHaveProperty('topology');
      expect(doc, name).toHaveProperty('tasks');
      const file = path.join(tmp, `${name}.json`);
      writeFileSync(file, JSON.stringify(doc, null, 2));
      const byFile = (await cliJson('compare', file, ...common, '--out', path.join(tmp, 'by-file'))) as { rows: Row[] };
      return { name, byName: essence(all.rows.filter((r) => r.scenario === name)), byFile: essence(byFile.rows) };
    });
    for (const r of results) {
      expect(r.byFile, r.name).toEqual(r.byName);
      expect(r.byName.length, r.name).toBeGreaterThan(0);
    }
    // the round trip is not vacuous: the built-ins' rows include their findings
    expect(results.flatMap((r) => r.byName.flatMap((x) => x.findings)).length).toBeGreaterThan(10);
  }, 600_000);
});

describe('what the built-ins needed, as bad input (exit 2 naming the place)', () => {
  const doc = (name: string): Record<string, unknown> => JSON.parse(JSON.stringify(findScenario(name).document)) as Record<string, unknown>;
  const cases: readonly [string, () => unknown, string, RegExp][] = [
    ['programs beside a kernel workload', () => ({ ...doc('runtime-abba'), tasks: [{ name: 'x', ops: [] }] }), 'programs', /leave tasks empty/],
    ['an op\'s when with a value the axis lacks', () => {
      const d = doc('seed-001-release-owner-with-pasid') as { tasks: { ops: { when?: unknown }[] }[] };
      d.tasks[0]!.ops[1]!.when = { release: 'after-detach' };
      return d;
    }, 'tasks[0].ops[1].when.release', /"after-detach" is not a value of release/],
    ['a fixed value of an unknown model axis', () => ({ ...doc('seed-003-deferred-attach'), fixed: { 'dev-iommu-bit': 'separate-bools' } }), 'fixed.dev-iommu-bit', /did you mean "dev-iommu-bits"/],
    ['a fixed value that hides an axis of the table', () => ({ ...doc('seed-003-dev-iommu-bits'), fixed: { 'dev-iommu-bits': 'separate-bools' } }), 'fixed.dev-iommu-bits', /would hide it/],
  ];
  for (const [what, make, where, msg] of cases) {
    it(what, async () => {
      const file = path.join(tmp, `bad-${where.replace(/[^\w.]/g, '_')}.json`);
      writeFileSync(file, JSON.stringify(make()));
      const r = await cli('run', file, '--schedules', '1', '--json');
      expect(r.code).toBe(2);
      expect(r.err).toContain(`${file}: ${where}: `);
      expect(r.err).toMatch(msg);
    });
  }
});
