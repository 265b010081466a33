import { describe, expect, it } from 'vitest';
import { runExecution } from '../runtime/execution.ts';
import type { ExecutionResult } from '../runtime/execution.ts';
import { explore } from '../runtime/explore.ts';
import type { Host } from '../runtime/hosts/host.ts';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { WorkersHost } from '../runtime/hosts/workers.ts';
import { makeStrategy } from '../runtime/strategies/index.ts';
import { ReplayStrategy } from '../runtime/strategies/replay.ts';
import { sameFailure } from '../runtime/replay-file.ts';
import { defaultCheckers } from '../checkers/index.ts';
import { findScenario } from '../scenarios/index.ts';
import type { Scenario, VariantAssignment } from '../scenarios/scenario.ts';

/** Every execution of an exploration: its trace hash, decisions and finding signatures. */
async function executions(host: Host, s: Scenario, v: VariantAssignment, snapshot: boolean, schedules: number, seed = 3) {
  const program = s.program(v);
  const seen: { hash: string; decisions: string; findings: string; setupSteps: number; steps: number }[] = [];
  await explore(host, program, makeStrategy('portfolio', seed), {
    seed, schedules, snapshot, checkers: s.checkers ?? defaultCheckers,
    onExecution: (r: ExecutionResult) => {
      seen.push({ hash: r.traceHash, decisions: r.decisions.join(' '), findings: r.findings.map((f) => f.signature).join(' '), setupSteps: r.setupSteps, steps: r.steps });
    },
  });
  return seen;
}

const CASES: readonly [string, VariantAssignment][] = [
  ['seed-004-domain-alloc-vs-hot-remove', { 'domain-alloc': 'v4-escaping-dev' }],
  ['seed-003-deferred-attach', { 'deferred-attach': 'unlocked' }],
  ['seed-003-dev-iommu-bits', { 'dev-iommu-bits': 'shared-word' }],
];

describe('the boot snapshot', () => {
  for (const [name, v] of CASES) {
    it(`${name}: exploring from the snapshot gives the same executions as booting every time`, async () => {
      const s = findScenario(name);
      const host = await InlineHost.create(s.program(v));
      try {
        const fresh = await executions(host, s, v, false, 40);
        const snap = await executions(host, s, v, true, 40);
        expect(snap).toEqual(fresh);
        // the boot ran as the set-up: the decisions cover only the steps after it
        for (const e of snap) {
          expect(e.setupSteps).toBeGreaterThan(50);
          expect(e.decisions.split(' ').length).toBe(e.steps - e.setupSteps);
        }
        // the schedules differ from each other (a snapshot that leaked state would still be deterministic)
        expect(new Set(snap.map((e) => e.hash)).size).toBeGreaterThan(5);
      } finally {
        await host.close();
      }
    });
  }

  it('the workers host snapshots inside each worker and gives the inline executions', async () => {
    const [name, v] = CASES[1] as [string, VariantAssignment];
    const s = findScenario(name);
    const inline = await InlineHost.create(s.program(v));
    const workers = await WorkersHost.create(s.program(v));
    try {
      const a = await executions(inline, s, v, true, 8);
      const b = await executions(workers, s, v, true, 8);
      expect(b).toEqual(a);
    } finally {
      await inline.close();
      await workers.close();
    }
  });

  it('a finding found from the snapshot replays from a cold boot', async () => {
    const [name, v] = CASES[0] as [string, VariantAssignment];
    const s = findScenario(name);
    const program = s.program(v);
    const host = await InlineHost.create(program);
    try {
      const r = await explore(host, program, makeStrategy('portfolio', 1), { seed: 1, schedules: 600, checkers: s.checkers ?? defaultCheckers, until: (x) => x.findings.some((f) => f.kind === 'use-after-free') });
      const uaf = r.findings.find((f) => f.finding.kind === 'use-after-free');
      expect(uaf).toBeDefined();
      await host.reset();
      const again = await runExecution(host, program, new ReplayStrategy(uaf?.decisions ?? []), { seed: 1, checkers: (s.checkers ?? defaultCheckers)() });
      expect(again.divergence).toBeNull();
      expect(again.traceHash).toBe(uaf?.traceHash);
      expect(again.findings.some((f) => sameFailure(uaf?.finding.signature ?? '', f.signature))).toBe(true);
    } finally {
      await host.close();
    }
  });
});
