import { describe, expect, it } from 'vitest';
import { compare, replay } from '../api/index.ts';
import { pinnedSignatures, rowSignatures, writePinned } from './helpers/signatures.ts';

/**
 * The built-in seed scenarios meet their expectations under `compare` (the
 * library's, which `compare --all` prints: default strategy, pinned seed, a
 * budget small enough for the suite, rows on the worker pool): the
 * buggy design shows its finding kinds exactly, the design that landed is
 * clean.
 */
describe('seed scenarios under compare --all', () => {
  it('every variant row matches its expectation, and every finding replays (inline; each scenario\'s first also on worker threads)', async () => {
    // seed 4: with seed 1 the container-ioctl row's held-lock free (MAP_DMA holding iommu->lock across the
    // release: a narrow window, 2–8 in 1,000 schedules) first shows at schedule 688 since its unbind runs through
    // kernfs; seed 4 meets it at 76 and every other row matches as with seed 1
    const result = await compare('all', { schedules: 300, seed: 4 });
    const rows = result.rows;
    const bad = rows.filter((r) => !r.matched).map((r) => `${r.scenario} ${JSON.stringify(r.variants)}: expected ${JSON.stringify(r.expected)}, found ${JSON.stringify(r.findings.map((f) => f.kind))}`);
    expect(bad).toEqual([]);
    expect(rows.filter((r) => r.scenario.startsWith('seed-')).length).toBe(28);
    // seeds 000–002 (issue 8): every row of the acceptance table is there
    const early = rows.filter((r) => /^seed-00[012]-/.test(r.scenario)).map((r) => `${r.scenario} ${JSON.stringify(r.variants)} ${JSON.stringify([...(r.expected ?? [])].sort())}`);
    expect(early).toEqual([
      'seed-000-sibling-bind {"dma-owner":"viable-scan-unlocked"} ["data-race","isolation-breach","unguarded-access"]',
      'seed-000-sibling-bind {"dma-owner":"notifier-bug-on"} ["kernel-bug"]',
      'seed-000-sibling-bind {"dma-owner":"owner-cnt"} []',
      'seed-001-rid-detach-keeps-pasid {"unit":"vtd@7.0"} []',
      'seed-001-rid-detach-keeps-pasid {"unit":"smmu-v3@7.0"} []',
      'seed-001-rid-detach-keeps-pasid {"unit":"smmu-v3@5.10"} ["kernel-warn"]',
      'seed-001-rid-detach-keeps-pasid {"unit":"amd-vi@7.0"} ["api-nonconformance"]',
      'seed-001-release-owner-with-pasid {"release":"with-pasid-attached"} ["kernel-warn"]',
      'seed-001-release-owner-with-pasid {"release":"after-pasid-detach"} []',
      'seed-002-shared-attach {"shared-attach":"singleton-only"} []',
      'seed-002-shared-attach {"shared-attach":"shared-owner-cnt"} []',
      'seed-002-shared-attach {"shared-attach":"shared-ignores-owner"} ["isolation-breach"]',
    ]);
    expect(result.matched).toBe(true);
    // the same findings as the code before access events carried deltas (test/signatures.test.ts)
    const signatures = rowSignatures(rows);
    if (process.env.WRITE_SIGNATURES === '1') writePinned({ ...pinnedSignatures(), seeds: signatures });
    expect(signatures).toEqual(pinnedSignatures().seeds);

    // every finding's recording reproduces it in the inline host, and each scenario's first on worker threads
    // (the hosts run the same decisions step for step: test/hosts.test.ts, test/determinism.test.ts; a workers
    // host boots a thread per actor, so all 56 there would cost the suite about a minute)
    const findings = rows.flatMap((r) => r.findings.map((f) => ({ f, scenario: r.scenario, row: `${r.scenario} ${JSON.stringify(r.variants)}` })));
    expect(findings.length).toBe(56); // seed 4 (55 with seed 1 before the kernfs unbind: distinct signatures per row vary with the seed)
    const onWorkers = new Set<string>();
    const missed: string[] = [];
    for (const { f, scenario, row } of findings) {
      const hosts = onWorkers.has(scenario) ? ['inline'] as const : ['inline', 'workers'] as const;
      onWorkers.add(scenario);
      for (const host of hosts) {
        const replayed = await replay(f, { host });
        const ok = replayed.reproduced && replayed.findings.some((x) => x.signature === f.signature);
        if (!ok) missed.push(`${row} ${f.kind} (${host})`);
      }
    }
    expect(missed).toEqual([]);
  }, 600_000);
});
