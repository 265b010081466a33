import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.ts';
import { defaultCheckers } from '../checkers/index.ts';
import { matchKnown } from '../fuzz/known.ts';
import { runExecution } from '../runtime/execution.ts';
import { FreeRunner } from '../runtime/free-run.ts';
import type { FreeRunResult } from '../runtime/free-run.ts';
import { DEFAULT_CHAOS, FreeChaos, chaosOptions } from '../runtime/hosts/free-chaos.ts';
import type { ChaosMode } from '../runtime/hosts/free-chaos.ts';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { WorkersHost } from '../runtime/hosts/workers.ts';
import { mix } from '../runtime/rng.ts';
import { ReplayStrategy } from '../runtime/strategies/replay.ts';
import { sameFailure } from '../runtime/replay-file.ts';
import { loadScenario } from '../scenarios/index.ts';
import { assignments, expectedFor, variantKey } from '../scenarios/scenario.ts';
import type { Scenario, VariantAssignment } from '../scenarios/scenario.ts';
import type { Finding, FindingKind } from '../protocol/findings.ts';
import type { TaskId } from '../protocol/ids.ts';

const t = (s: string): TaskId => s as TaskId;

describe('chaos decisions (runtime/hosts/free-chaos.ts)', () => {
  it('are functions of (seed, task, step): the same in every actor and every run, different for another seed', () => {
    const opts = chaosOptions('random', 200);
    const a = new FreeChaos(7, opts);
    const b = new FreeChaos(7, opts);
    const c = new FreeChaos(8, opts);
    const holds = (x: FreeChaos): string[] => {
      const out: string[] = [];
      for (const task of ['alloc', 'remove', 'boot']) for (let n = 0; n < 2000; n++) if (x.hold(t(task), n) !== null) out.push(`${task}#${n}:${x.hold(t(task), n)?.overtake}`);
      return out;
    };
    expect(holds(a)).toEqual(holds(b));
    expect(holds(a)).not.toEqual(holds(c));
    // random: about `delays` holds per k steps (8 per 200 here: 240 expected over 6000 steps)
    expect(holds(a).length).toBeGreaterThan(150);
    expect(holds(a).length).toBeLessThan(350);
    for (const h of holds(a)) expect(Number(h.split(':')[1])).toBeLessThanOrEqual(200);
  });

  it('pct: a task keeps its priority until its first change point, then ranks below every undemoted task; change points are held until the others stop', () => {
    const opts = chaosOptions('pct', 40);
    const x = new FreeChaos(3, opts);
    let found = false;
    for (const task of ['a', 'b', 'c', 'd', 'e', 'f']) {
      const first = Array.from({ length: 400 }, (_, n) => n).find((n) => x.hold(t(task), n) !== null);
      if (first === undefined) continue;
      found = true;
      expect(x.hold(t(task), first)).toEqual({ overtake: null, why: 'change-point' });
      expect(x.priority(t(task), first - 1)).toBeGreaterThan(1);
      expect(x.priority(t(task), first)).toBeLessThan(1);
      expect(x.priority(t(task), first + 50)).toBe(x.priority(t(task), first));
    }
    expect(found).toBe(true);
    // off holds nothing and picks the first sleeper
    const off = new FreeChaos(3, chaosOptions('off'));
    for (let n = 0; n < 500; n++) expect(off.hold(t('a'), n)).toBeNull();
    expect(off.pickSleeper([t('a'), t('b')], () => 0, 5)).toBe(0);
  });
});

/**
 * Free schedules of `v` with chaos until a finding of `kind` shows (at most
 * `budget`), on one FreeRunner: task seed `seed`, schedule i's chaos seed
 * mix(seed, i), as `run --mode free --seed <seed>` does.
 */
async function freeUntil(s: Scenario, v: VariantAssignment, kind: FindingKind, budget: number, seed: number, chaos: ChaosMode): Promise<{ run: FreeRunResult; finding: Finding; schedule: number } | null> {
  const runner = new FreeRunner(s.program(v), s.checkers ?? defaultCheckers);
  try {
    for (let i = 0; i < budget; i++) {
      const run = await runner.run({ seed, runSeed: mix(seed, i), chaos: chaosOptions(chaos) });
      const finding = run.findings.find((f) => f.kind === kind);
      if (finding !== undefined) return { run, finding, schedule: i };
    }
    return null;
  } finally {
    await runner.close();
  }
}

/** Replays a free run's record in controlled mode (set-up phase on, as `iommu-lab replay` runs it) in both hosts. */
async function replaysInBothHosts(s: Scenario, v: VariantAssignment, seed: number, decisions: readonly TaskId[], signature: string): Promise<void> {
  const program = s.program(v);
  for (const host of [await InlineHost.create(program), await WorkersHost.create(program)]) {
    try {
      const r = await runExecution(host, program, new ReplayStrategy(decisions), { seed, checkers: (s.checkers ?? defaultCheckers)() });
      expect(r.divergence, host.kind).toBeNull();
      expect(r.findings.some((f) => sameFailure(signature, f.signature)), `${host.kind}: ${r.findings.map((f) => f.signature).join(', ')}`).toBe(true);
    } finally {
      await host.close();
    }
  }
}

// Free mode is nondeterministic: the budgets are far above the measured find rates (docs/runtime.md "Chaos",
// load average 40-70): seed-004's use-after-free took a median of 42 free schedules over task seeds 1-10 (at most
// 146), and 14, 14, 14, 22 with task seed 10 in four runs, once none in 140 through the CLI at load 75; seed-000's isolation breach (with its other kinds) a median
// of 8.5 (at most 48), 5 with task seed 1. Seed 004's window is narrow: on an idle machine 4 of 300 schedules of task
// seed 10 hit it (at 13, 21, 114 and 171; the same on the code of two sessions before), and one CI run, beside the
// installed-CLI test's bench, missed all 300; hence 1,000 (about 40 ms a schedule, and it usually stops at 13).
describe('free mode with chaos finds what needs a window (workers host)', () => {
  it('seed-004: iommu_domain_alloc(bus) racing a hot-remove — the use-after-free, and its replay reproduces in controlled mode in both hosts', async () => {
    const s = await loadScenario('seed-004-domain-alloc-vs-hot-remove');
    const v = { 'domain-alloc': 'v4-escaping-dev' };
    const hit = await freeUntil(s, v, 'use-after-free', 1000, 10, 'pct');
    expect(hit, 'no use-after-free within 1,000 free schedules').not.toBeNull();
    // the free run started after the controlled set-up (the boot), as its replay does
    expect(hit!.run.setupSteps).toBeGreaterThan(0);
    await replaysInBothHosts(s, v, 10, hit!.run.decisions, hit!.finding.signature);
  }, 600_000);

  it('seed-000: the unlocked viability scan — the isolation breach, and its replay reproduces in controlled mode in both hosts', async () => {
    const s = await loadScenario('seed-000-sibling-bind');
    const v = { 'dma-owner': 'viable-scan-unlocked' };
    const hit = await freeUntil(s, v, 'isolation-breach', 150, 1, 'pct');
    expect(hit, 'no isolation breach within 150 free schedules').not.toBeNull();
    await replaysInBothHosts(s, v, 1, hit!.run.decisions, hit!.finding.signature);
  }, 240_000);

  it('fixed variants stay clean under chaos: nothing outside the known list (fuzz/known.ts)', async () => {
    for (const name of ['seed-004-domain-alloc-vs-hot-remove', 'seed-000-sibling-bind']) {
      const s = await loadScenario(name);
      for (const v of assignments(s).filter((a) => (expectedFor(s, a) ?? ['?']).length === 0)) {
        const runner = new FreeRunner(s.program(v), s.checkers ?? defaultCheckers);
        try {
          for (let i = 0; i < 5; i++) {
            const r = await runner.run({ seed: 1, runSeed: mix(1, i), chaos: chaosOptions('pct') });
            expect(r.outcome, `${name} ${variantKey(v)} schedule ${i}`).toBe('completed');
            const unknown = r.findings.filter((f) => matchKnown(f, null) === null);
            expect(unknown.map((f) => f.signature), `${name} ${variantKey(v)} schedule ${i}`).toEqual([]);
          }
        } finally {
          await runner.close();
        }
      }
    }
  }, 240_000);
});

describe('--chaos on the command line', () => {
  it('bad values and controlled mode exit 2 naming the flag', async () => {
    const bad = await cli('run', 'runtime-abba', '--mode', 'free', '--chaos', 'wild');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--chaos must be one of off\|random\|pct/);
    const ctl = await cli('run', 'runtime-abba', '--chaos', 'pct');
    expect(ctl.code).toBe(2);
    expect(ctl.err).toMatch(/--chaos applies to free mode/);
    const st = await cli('stress', '--chaos', 'maybe');
    expect(st.code).toBe(2);
    expect(st.err).toMatch(/--chaos must be one of/);
  });

  it('run --mode free reports the chaos setting (pct by default) and the steps it held (none when off)', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'iommu-lab-chaos-'));
    const dflt = await cli('run', 'seed-002-shared-attach', '--mode', 'free', '--schedules', '2', '--out', out, '--json');
    expect((dflt.json as { chaos: { mode: string } }).chaos.mode).toBe(DEFAULT_CHAOS);
    const off = await cli('run', 'seed-002-shared-attach', '--mode', 'free', '--chaos', 'off', '--schedules', '2', '--out', out, '--json');
    expect((off.json as { chaos: unknown }).chaos).toEqual({ mode: 'off', delays: 0 });
  }, 120_000);
});
