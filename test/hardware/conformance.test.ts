import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.ts';
import { CASES, allUnits, runConformance } from '../../scenarios/conformance/index.ts';
import type { ConformanceReport } from '../../scenarios/conformance/index.ts';


const FIXTURE = fileURLToPath(new URL('./fixtures/forgetful-unit.ts', import.meta.url));
const RID_CASES = ['rid-attach-keeps-pasid', 'rid-detach-keeps-pasid', 'rid-block-keeps-pasid', 'rid-identity-keeps-pasid'];

describe('conformance --all', () => {
  let report: ConformanceReport;
  const unit = (id: string): ConformanceReport['units'][number] => report.units.find((u) => u.unit === id)!;
  const statusOf = (id: string): Record<string, string> => Object.fromEntries(unit(id).cases.map((c) => [c.name, c.status]));

  it('runs at least 10 cases on each of the five profiles', async () => {
    report = await runConformance(allUnits());
    expect(report.units.map((u) => u.unit)).toEqual(['smmu-v3@5.10', 'smmu-v3@7.0', 'vtd@7.0', 'amd-vi@7.0', 'mock']);
    expect(CASES.length).toBeGreaterThanOrEqual(10);
    for (const u of report.units) expect(u.cases.map((c) => c.name)).toEqual(CASES.map((c) => c.name));
  });

  it('seed 001: smmu-v3@5.10 refuses (c), vtd@7.0 and smmu-v3@7.0 keep the PASIDs (a), amd-vi@7.0 drops them (b)', () => {
    const seed = (id: string): { status: string; observed: string } => unit(id).cases.find((c) => c.name === 'rid-detach-keeps-pasid')!;
    expect(seed('smmu-v3@5.10')).toMatchObject({ status: 'deviation', observed: expect.stringMatching(/^\(c\) /) });
    expect(seed('vtd@7.0')).toMatchObject({ status: 'pass', observed: expect.stringMatching(/^\(a\) /) });
    expect(seed('smmu-v3@7.0')).toMatchObject({ status: 'pass', observed: expect.stringMatching(/^\(a\) /) });
    expect(seed('amd-vi@7.0')).toMatchObject({ status: 'deviation', observed: expect.stringMatching(/^\(b\) /) });
    for (const name of RID_CASES) {
      expect(statusOf('smmu-v3@5.10')[name]).toBe('deviation');
      expect(statusOf('amd-vi@7.0')[name]).toBe('deviation');
    }
  });

  it('the mock, vtd@7.0 and smmu-v3@7.0 pass everything; the deviations are exactly the documented ones and nothing fails', () => {
    for (const id of ['mock', 'vtd@7.0', 'smmu-v3@7.0']) {
      const statuses = Object.values(statusOf(id));
      expect(statuses.length, id).toBeGreaterThan(0);
      expect(statuses.every((s) => s === 'pass'), id).toBe(true);
    }
    const deviating = (id: string): string[] => unit(id).cases.filter((c) => c.status === 'deviation').map((c) => c.name);
    expect(deviating('amd-vi@7.0')).toEqual([...RID_CASES, 'reset-nesting']);
    expect(deviating('smmu-v3@5.10')).toEqual([...RID_CASES, 'reset-nesting']);
    expect(report.units.flatMap((u) => u.cases).filter((c) => c.status === 'fail')).toEqual([]);
    for (const c of report.units.flatMap((u) => u.cases).filter((x) => x.status === 'deviation')) expect(c.note).toMatch(/\S/);
  });
});

describe('conformance CLI', () => {
  it('--unit KIND@VERSION --json: CLI.md\'s shape, exit 0', async () => {
    const r = await cli('conformance', '--unit', 'amd-vi@7.0', '--case', 'rid-detach-keeps-pasid', '--case', 'unmap-sync-no-dma', '--json');
    expect(r.code).toBe(0);
    const doc = r.json as { units: { unit: string; cases: Record<string, unknown>[] }[] };
    expect(Object.keys(doc)).toEqual(['units']);
    expect(doc.units).toHaveLength(1);
    expect(doc.units[0]!.unit).toBe('amd-vi@7.0');
    for (const c of doc.units[0]!.cases) {
      expect(c).toEqual(expect.objectContaining({ name: expect.any(String), expected: expect.any(String), observed: expect.any(String), status: expect.stringMatching(/^(pass|fail|deviation)$/) }));
    }
    expect(doc.units[0]!.cases.map((c) => c['status'])).toEqual(['deviation', 'pass']);
  });

  it('the text report: a table per unit with a count line', async () => {
    const r = await cli('conformance', '--unit', 'mock', '--case', 'pasid-failure-rollback');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^== mock ==\ncase +expected +observed +status/);
    expect(r.out).toContain('mock: 1 cases, 1 pass, 0 deviation, 0 fail');
  });

  it('bad input is exit 2: no unit, both --all and --unit, an unknown profile, a module without the export', async () => {
    expect((await cli('conformance')).code).toBe(2);
    expect((await cli('conformance', '--all', '--unit', 'mock')).code).toBe(2);
    const unknown = await cli('conformance', '--unit', 'vtd@4.19');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('unknown unit "vtd@4.19"');
    const noExport = await cli('conformance', '--unit', `${FIXTURE}#nothing`);
    expect(noExport.code).toBe(2);
    expect(noExport.err).toContain('no actor definition exported as "nothing"');
  });

  it('a plug-in unit from a file: unchanged VT-d passes; one whose iotlb_sync does nothing fails with a stale translation (exit 1)', async () => {
    const good = await cli('conformance', '--unit', FIXTURE, '--as', 'vtd@7.0', '--case', 'unmap-sync-no-dma', '--json');
    expect(good.code).toBe(0);
    const bad = await cli('conformance', '--unit', `${FIXTURE}#forgetfulUnit`, '--case', 'unmap-sync-no-dma', '--case', 'rid-attach-keeps-pasid', '--json');
    expect(bad.code).toBe(1);
    const doc = bad.json as { units: { unit: string; cases: { name: string; status: string; observed: string }[] }[] };
    expect(doc.units[0]!.unit).toBe(`${FIXTURE}#forgetfulUnit (as vtd@7.0)`);
    expect(doc.units[0]!.cases[1]).toMatchObject({ name: 'unmap-sync-no-dma', status: 'fail', observed: expect.stringContaining('stale-translation in unit:iommu0.dma') });
    expect(doc.units[0]!.cases[0]).toMatchObject({ name: 'rid-attach-keeps-pasid', status: 'pass' });
  });
});
