import path from 'node:path';
import { findProfile, PROFILES, profileIds } from '../../hardware/profiles.ts';
import type { UnitProfile } from '../../hardware/profiles.ts';
import { runExecution } from '../../runtime/execution.ts';
import type { Host, HostKind } from '../../runtime/hosts/host.ts';
import { InlineHost } from '../../runtime/hosts/inline.ts';
import { WorkersHost } from '../../runtime/hosts/workers.ts';
import { InputError } from '../../runtime/input-error.ts';
import { loadActorDef } from '../../runtime/modules.ts';
import { RandomStrategy } from '../../runtime/strategies/random.ts';
import { kernelCheckers } from '../kernel/checkers.ts';
import { kernelProgram } from '../kernel/program.ts';
import type { CaseProgram, CaseRun, ConformanceCase } from './case.ts';
import { CASES } from './cases.ts';
import { documented } from './deviations.ts';
import { conformanceTopology, unitSpec } from './machine.ts';
import type { UnitUnderTest } from './machine.ts';

/**
 * Runs the conformance cases on units and grades each: `pass` (the core's
 * contract held), `deviation` (the unit did what its driver version is
 * documented to do instead, deviations.ts), `fail` (anything else,
 * including a finding the case does not allow: an isolation breach, a stale
 * translation, a use-after-free...). The JSON is CLI.md's.
 */

export type CaseStatus = 'pass' | 'fail' | 'deviation';

export interface CaseResult {
  readonly name: string;
  readonly expected: string;
  readonly observed: string;
  readonly status: CaseStatus;
  readonly source: string;
  /** For a deviation: the documented behaviour it matches. */
  readonly note?: string;
}

export interface UnitReport {
  readonly unit: string;
  readonly cases: readonly CaseResult[];
}

export interface ConformanceReport {
  readonly units: readonly UnitReport[];
}

/** A built-in unit by profile id ("vtd@7.0", "mock", "smmu-v3" = "smmu-v3@7.0"). */
export function builtinUnit(id: string): UnitUnderTest {
  const profile = findProfile(id);
  if (profile === null) throw new InputError(`unknown unit "${id}" (known: ${profileIds().join(', ')}; or a path to a plug-in module)`);
  return { label: profile.id, spec: unitSpec(profile), profile };
}

/** Every built-in profile of `--all`. */
export const allUnits = (): UnitUnderTest[] => PROFILES.map((p) => ({ label: p.id, spec: unitSpec(p), profile: p }));

/**
 * A plug-in unit: `file[#export]` (default export "default"), standing in
 * for the driver of profile `as` — the core treats it as that kind, and that
 * profile's documented deviations apply.
 */
export async function pluginUnit(arg: string, as: string): Promise<UnitUnderTest> {
  const hash = arg.lastIndexOf('#');
  const file = hash > 0 ? arg.slice(0, hash) : arg;
  const exp = hash > 0 ? arg.slice(hash + 1) : 'default';
  const profile: UnitProfile | null = findProfile(as);
  if (profile === null) throw new InputError(`--as: unknown profile "${as}" (known: ${profileIds().join(', ')})`);
  const module = path.resolve(file);
  try {
    await loadActorDef(module, exp);
  } catch (e) {
    throw new InputError(`--unit: ${e instanceof Error ? e.message : String(e)}`, file);
  }
  return { label: `${arg} (as ${profile.id})`, spec: unitSpec(profile, { module, export: exp }), profile };
}

/** Looks like a path rather than a profile id. */
export const isPluginArg = (arg: string): boolean => arg.includes('/') || /\.(ts|js|mjs)(#.*)?$/.test(arg);

export interface RunOptions {
  readonly host?: HostKind;
  readonly seed?: number;
  /** Only these cases (by name). */
  readonly cases?: readonly string[];
  readonly progress?: (line: string) => void;
}

async function runProgram(u: UnitUnderTest, c: ConformanceCase, p: CaseProgram, opts: RunOptions): Promise<CaseRun[]> {
  const program = kernelProgram({
    name: `conformance:${c.name}`,
    topology: conformanceTopology(u, { passthrough: p.passthrough === true, requireDirect: p.requireDirect === true }),
    ...(p.variants !== undefined ? { variants: p.variants } : {}),
    tasks: p.tasks.map((t) => ({ id: t.id, calls: t.script.build() })),
  });
  const host: Host = opts.host === 'workers' ? await WorkersHost.create(program) : await InlineHost.create(program);
  const seed = opts.seed ?? 1;
  const strategy = new RandomStrategy(seed);
  const runs: CaseRun[] = [];
  try {
    for (let i = 0; i < (p.schedules ?? 1); i++) {
      await host.reset();
      const r = await runExecution(host, program, strategy, { seed, execution: i, checkers: kernelCheckers(), record: true });
      const results: Record<string, readonly unknown[] | undefined> = {};
      for (const t of p.tasks) results[t.id] = r.results[t.id] as readonly unknown[] | undefined;
      runs.push({ outcome: r.outcome, results, findings: r.findings, trace: r.trace });
    }
  } finally {
    await host.close();
  }
  return runs;
}

export async function runCase(u: UnitUnderTest, c: ConformanceCase, opts: RunOptions = {}): Promise<CaseResult> {
  const p = c.build(u);
  const runs = await runProgram(u, c, p, opts);
  const j = c.judge(u, p, runs);
  const result = (observed: string, status: CaseStatus, note?: string): CaseResult => ({
    name: c.name, expected: c.expected(u), observed, status, source: c.source, ...(note !== undefined ? { note } : {}),
  });
  const extra = [...new Map(runs.flatMap((r) => r.findings).filter((f) => !c.allow.includes(f.kind)).map((f) => [f.signature, f])).values()];
  if (extra.length > 0) return result(`${j.observed}; unexpected: ${extra.map((f) => f.title).join(', ')}`, 'fail');
  switch (j.verdict.kind) {
    case 'contract':
      return result(j.observed, 'pass');
    case 'broken':
      return result(j.observed, 'fail');
    case 'deviation': {
      const doc = documented(u.profile.id, c.name);
      return doc !== null && doc.id === j.verdict.id ? result(j.observed, 'deviation', doc.why) : result(`${j.observed} (undocumented for ${u.profile.id})`, 'fail');
    }
  }
}

export async function runUnit(u: UnitUnderTest, opts: RunOptions = {}): Promise<UnitReport> {
  const cases: CaseResult[] = [];
  for (const c of CASES) {
    if (opts.cases !== undefined && !opts.cases.includes(c.name)) continue;
    const r = await runCase(u, c, opts);
    opts.progress?.(`${u.label} ${c.name}: ${r.status}`);
    cases.push(r);
  }
  return { unit: u.label, cases };
}

export async function runConformance(units: readonly UnitUnderTest[], opts: RunOptions = {}): Promise<ConformanceReport> {
  const out: UnitReport[] = [];
  for (const u of units) out.push(await runUnit(u, opts));
  return { units: out };
}

/** CLI.md exit codes: a deviation is documented behaviour, so only a fail is a mismatch (1). */
export const exitCodeOf = (r: ConformanceReport): 0 | 1 => (r.units.some((u) => u.cases.some((c) => c.status === 'fail')) ? 1 : 0);
