import { expect } from 'vitest';
import type { Group } from '../../actors/iommu-core/state.ts';
import { Lockdep } from '../../checkers/lockdep/lockdep.ts';
import type { Checker } from '../../checkers/checker.ts';
import { NO_FINDINGS } from '../../checkers/checker.ts';
import type { TraceEvent } from '../../protocol/events.ts';
import { actorId } from '../../protocol/ids.ts';
import type { DriverAction } from '../../protocol/driver-actions.ts';
import type { Finding } from '../../protocol/findings.ts';
import { DRIVER_CORE, IOMMU_CORE } from '../../protocol/kernel.ts';
import type { Call } from '../../protocol/kernel.ts';
import { runExecution } from '../../runtime/execution.ts';
import { explore } from '../../runtime/explore.ts';
import type { ExecutionResult } from '../../runtime/execution.ts';
import type { Host } from '../../runtime/hosts/host.ts';
import { InlineHost } from '../../runtime/hosts/inline.ts';
import { WorkersHost } from '../../runtime/hosts/workers.ts';
import { RandomStrategy } from '../../runtime/strategies/random.ts';
import type { Strategy } from '../../runtime/strategies/strategy.ts';
import { kernelCheckers } from '../../scenarios/kernel/checkers.ts';
import { kernelProgram } from '../../scenarios/kernel/program.ts';
import type { KernelProgramSpec } from '../../scenarios/kernel/program.ts';

/** What a test sees of one kernel-model execution. */
export interface KernelRun {
  readonly result: ExecutionResult;
  /** iommu-core's inspect view at the end. */
  readonly core: CoreView;
  readonly driverCore: unknown;
  readonly checkers: readonly Checker[];
  readonly lockdep: Lockdep;
}

/** An iommu_group as iommu-core's inspect shows it. */
export type GroupView = Readonly<Group>;

export interface CoreView {
  readonly groups: readonly GroupView[];
  readonly devIommu: readonly { readonly dev: string; readonly hw_domain: string | null; readonly max_pasids: number }[];
  readonly devices: readonly { readonly id: string; readonly iommu_group: string | null }[];
  readonly domains: readonly { readonly id: string; readonly type: string }[];
  readonly handles: readonly unknown[];
}

export interface RunOptions {
  readonly seed?: number;
  readonly host?: 'inline' | 'workers';
  readonly strategy?: Strategy;
  readonly checkers?: readonly Checker[];
}

/** Runs one execution of a kernel program from fresh state and collects the views. */
export async function runKernel(spec: KernelProgramSpec, opts: RunOptions = {}): Promise<KernelRun> {
  const program = kernelProgram(spec);
  const host: Host = opts.host === 'workers' ? await WorkersHost.create(program) : await InlineHost.create(program);
  try {
    const checkers = opts.checkers ?? kernelCheckers();
    const seed = opts.seed ?? 1;
    const result = await runExecution(host, program, opts.strategy ?? new RandomStrategy(seed), { seed, checkers });
    const core = (await host.inspect(IOMMU_CORE)) as CoreView;
    const driverCore = await host.inspect(DRIVER_CORE);
    const lockdep = checkers.find((c): c is Lockdep => c instanceof Lockdep) ?? new Lockdep();
    return { result, core, driverCore, checkers, lockdep };
  } finally {
    await host.close();
  }
}

/** A scenario task that runs `actions` as a module (kernel client code) and returns their results. */
export const moduleCall = (actions: readonly DriverAction[], module = 'test'): Call => ({ to: DRIVER_CORE, op: 'module_call', body: { module, actions } });
export const driverCall = (dev: string, actions: readonly DriverAction[]): Call => ({ to: DRIVER_CORE, op: 'driver_call', body: { dev, actions } });
export const call = (to: string, op: string, body: unknown): Call => ({ to: actorId(to), op, body });

/** The return values of a task's calls. */
export function taskResults(run: KernelRun, task: string): readonly unknown[] {
  const r = run.result.results[task];
  expect(r, `task ${task} did not finish (outcome ${run.result.outcome})`).toBeDefined();
  return r as readonly unknown[];
}

export function groupOf(run: KernelRun, dev: string): GroupView {
  const d = run.core.devices.find((x) => x.id === dev);
  const g = run.core.groups.find((x) => x.id === d?.iommu_group);
  expect(g, `group of ${dev}`).toBeDefined();
  return g as GroupView;
}

/** Findings other than the listed kinds, printed for a readable failure. */
export function unexpected(findings: readonly Finding[], allowed: readonly string[] = []): string[] {
  return findings.filter((f) => !allowed.includes(f.kind)).map((f) => `${f.kind}: ${f.title}\n${f.report}`);
}

/** Kinds seen over up to `schedules` executions of a kernel program (fresh state each), stopping early once `until` kinds all showed. */
export async function exploreKernel(
  spec: KernelProgramSpec,
  opts: { readonly schedules: number; readonly seed?: number; readonly until?: readonly string[]; readonly checkers?: () => readonly Checker[]; readonly strategy?: Strategy },
): Promise<{ readonly kinds: ReadonlySet<string>; readonly runs: number; readonly outcomes: ReadonlySet<string>; readonly findings: readonly Finding[] }> {
  const program = kernelProgram(spec);
  const host = await InlineHost.create(program);
  const kinds = new Set<string>();
  const outcomes = new Set<string>();
  const findings: Finding[] = [];
  try {
    const x = await explore(host, program, opts.strategy ?? new RandomStrategy(opts.seed ?? 1), {
      seed: opts.seed ?? 1,
      schedules: opts.schedules,
      checkers: opts.checkers ?? (() => kernelCheckers()),
      onExecution: (r) => {
        outcomes.add(r.outcome);
        for (const f of r.findings) {
          if (!kinds.has(f.kind)) findings.push(f);
          kinds.add(f.kind);
        }
      },
      until: () => opts.until !== undefined && opts.until.every((k) => kinds.has(k)),
    });
    return { kinds, runs: x.executions, outcomes, findings };
  } finally {
    await host.close();
  }
}

/** A checker that keeps every event of an execution, in order (for tests that look at the order of things). */
export class Recorder implements Checker {
  readonly name = 'recorder';
  readonly events: TraceEvent[] = [];
  onEvent(e: TraceEvent): void {
    this.events.push(e);
  }
  drain(): readonly Finding[] {
    return NO_FINDINGS;
  }
}
