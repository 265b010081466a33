import { describe, expect, it } from 'vitest';
import { errno } from '../../protocol/errno.ts';
import { blockedDomainOf, identityDomainOf } from '../../protocol/iommu-unit.ts';
import { PROFILES } from '../../hardware/profiles.ts';
import { EP, EP2, alloc, attach, dma, map, probe, removePasid, runUnit, setPasid, sync, unitOf, unmap, word } from './unit-harness.ts';
import type { UnitCall } from './unit-harness.ts';

/**
 * The unit models one by one, driven through the unit protocol as the core
 * drives them: their tables, their caches and invalidation, and the vendor
 * differences of docs/kernel-facts.md §5.
 */

const BLOCKED = blockedDomainOf('u0');
const IDENTITY = identityDomainOf('u0');

/** A paging domain `p` on the RID of `dev`, IOVA 0x1000 → page. */
const ridOn = (dev: string, page: string): UnitCall[] => [probe(dev), alloc('p'), attach(dev, 'p'), map('p', 0x1000, page)];

/** Each vendor's domain_ops->unmap_pages (hardware/*.ts fns). */
const UNMAP_PAGES: Readonly<Record<string, string>> = {
  vtd: 'pt_iommu_x86_64_unmap_pages', 'amd-vi': 'pt_iommu_amdv1_unmap_pages', 'smmu-v3': 'arm_smmu_unmap_pages', mock: 'pt_iommu_amdv1_mock_unmap_pages',
};

describe.each(PROFILES.map((p) => p.id))('%s: caches and invalidation', (profile) => {
  const unit = unitOf(profile);

  it('translates by walking the page table, then from the IOTLB; an ATS device from its device-TLB', async () => {
    const run = await runUnit(unit, [...ridOn(EP, 'ep-buf'), probe(EP2), attach(EP2, 'p'), dma(EP, 0x1000), dma(EP, 0x1000), dma(EP2, 0x1000), dma(EP, 0x2000)]);
    expect(run.r.findings).toEqual([]);
    expect(run.dmaEvents.map((e) => [e.dev, e.outcome, e.target, e.via ?? null])).toEqual([
      [EP, 'translated', 'ep-buf', 'walk'],
      // the ATS device's own cache answers first
      [EP, 'translated', 'ep-buf', 'devtlb'],
      // another device of the same domain hits the IOTLB entry (tagged by domain)
      [EP2, 'translated', 'ep-buf', 'iotlb'],
      [EP, 'fault', null, null],
    ]);
    expect(run.dmaEvents[0]).toMatchObject({ domain: 'p', profile, write: false });
    expect(run.inspect).toMatchObject({ iotlb: { 'p|0x1000': 'ep-buf' }, devtlb: { [EP]: { 'rid|0x1000': 'ep-buf' } } });
    expect((run.inspect['faults'] as string[]).length).toBe(1);
  });

  it('DMA after an unmap without iotlb_sync hits the stale entry and is reported; with the sync it faults and nothing is reported', async () => {
    for (const dev of [EP, EP2]) {
      const stale = await runUnit(unit, [...ridOn(dev, 'buf'), dma(dev, 0x1000), unmap('p', 0x1000), dma(dev, 0x1000)]);
      expect(word(stale.results[6])).toBe('translated:buf');
      const f = stale.r.findings.filter((x) => x.kind === 'stale-translation');
      expect(f).toHaveLength(1);
      // the unmap's site is the vendor's unmap_pages (the unit's handler runs under its kernel name, runtime/kfunc.ts)
      expect(f[0]!.signature).toBe(`stale-translation|${dev === EP ? 'devtlb' : 'iotlb'}|not-invalidated|unit:u0.dma|driver.run|unit:u0.${UNMAP_PAGES[profile.split('@')[0] as string]}`);
      expect(f[0]!.report).toContain('BUG: iommu-lab: stale-translation in unit:u0.dma');
      expect(f[0]!.report).toContain('now maps IOVA 0x1000 to nothing');

      const synced = await runUnit(unit, [...ridOn(dev, 'buf'), dma(dev, 0x1000), unmap('p', 0x1000), sync('p'), dma(dev, 0x1000)]);
      expect(word(synced.results[7])).toBe('fault');
      expect(synced.r.findings).toEqual([]);
      expect(synced.inspect).toMatchObject({ iotlb: {}, stats: { syncs: expect.any(Number) } });
    }
  });

  it('the IOTLB holds a bounded number of entries, oldest out first', async () => {
    const n = 80;
    const calls: UnitCall[] = [probe(EP2), alloc('p'), attach(EP2, 'p')];
    for (let i = 1; i <= n; i++) calls.push(map('p', i * 0x1000, `pg${i}`), dma(EP2, i * 0x1000));
    calls.push(dma(EP2, 0x1000), dma(EP2, n * 0x1000));
    const run = await runUnit(unit, calls);
    const last = run.dmaEvents.slice(-2);
    expect(last.map((e) => e.via)).toEqual(['walk', 'iotlb']);
    expect(Object.keys(run.inspect['iotlb'] as object)).toHaveLength(64);
  });

  it('a domain freed while a device still uses it keeps being walked: the DMA is a use-after-free and an isolation breach', async () => {
    const run = await runUnit(unit, [...ridOn(EP2, 'buf'), { op: 'domain_free', body: { domain: 'p' } }, dma(EP2, 0x1000)]);
    expect(word(run.results[5])).toBe('translated:buf');
    expect(run.r.findings.map((f) => f.kind).sort()).toEqual(['isolation-breach', 'use-after-free']);
    expect(run.r.findings.find((f) => f.kind === 'isolation-breach')?.signature).toBe('isolation-breach|freed-domain|unit:u0.dma|driver.run');
  });
});

describe('VT-d: context entry, PASID table with the RID in entry 0', () => {
  const vtd = unitOf('vtd@7.0');

  it('a RID change touches entry 0 only; blocking tears it down; PASIDs keep translating (seed 001 (a))', async () => {
    const run = await runUnit(vtd, [
      ...ridOn(EP, 'rid-buf'), alloc('q'), map('q', 0x5000, 'pasid-buf'), setPasid(EP, 3, 'q'),
      attach(EP, BLOCKED, 'blocked', 'p'), dma(EP, 0x1000), dma(EP, 0x5000, 3),
      attach(EP, IDENTITY, 'identity', BLOCKED), dma(EP, 0x1000), dma(EP, 0x5000, 3),
    ]);
    expect(run.results.slice(7).map((x) => (typeof x === 'object' && x !== null && 'outcome' in x ? word(x) : x))).toEqual([0, 'blocked', 'translated:pasid-buf', 0, 'bypass', 'translated:pasid-buf']);
    expect(run.inspect).toMatchObject({ context: { [EP]: { context: 'present', pasid_table: { '0': { pgtt: 'pt', domain: IDENTITY }, '3': { pgtt: 'fl', domain: 'q' } } } } });
    expect(run.r.findings).toEqual([]);
  });

  it('a RID attach is break-before-make: DMA in between is blocked, the device-TLB is flushed', async () => {
    const run = await runUnit(vtd, [...ridOn(EP, 'old'), dma(EP, 0x1000), alloc('n'), map('n', 0x1000, 'new'), attach(EP, 'n', 'paging', 'p'), dma(EP, 0x1000)]);
    expect(word(run.results[8])).toBe('translated:new');
    expect(run.r.findings).toEqual([]);
  });

  it('set_dev_pasid replaces in place; removal tears the entry down and flushes the PASID\'s device-TLB entries', async () => {
    const run = await runUnit(vtd, [
      probe(EP), alloc('a'), map('a', 0x5000, 'a-buf'), alloc('b'), map('b', 0x5000, 'b-buf'),
      setPasid(EP, 1, 'a'), dma(EP, 0x5000, 1), dma(EP, 0x5000, 1), setPasid(EP, 1, 'b', 'paging', 'a'), dma(EP, 0x5000, 1),
      removePasid(EP, 1, 'b'), dma(EP, 0x5000, 1),
    ]);
    expect([6, 7, 9, 11].map((i) => word(run.results[i]))).toEqual(['translated:a-buf', 'translated:a-buf', 'translated:b-buf', 'fault']);
    expect(run.dmaEvents[1]?.via).toBe('devtlb');
    expect(run.r.findings).toEqual([]);
  });

  it('kdump: a copied context translates through the old kernel\'s tables until the first attach; set_dev_pasid is -EBUSY meanwhile', async () => {
    const run = await runUnit(unitOf('vtd@7.0', { attach_deferred: true }), [
      probe(EP), dma(EP, 0x1000), alloc('p'), map('p', 0x1000, 'fresh'), setPasid(EP, 1, 'p'), attach(EP, 'p'), dma(EP, 0x1000),
    ], { pci: [{ bdf: EP, unit: 'u0', ats: true, pasid_bits: 20, attach_deferred: true }] });
    expect(word(run.results[1])).toBe('translated:oldkernel:0x1000');
    expect(run.results[4]).toEqual(errno('EBUSY'));
    expect(word(run.results[6])).toBe('translated:fresh');
  });
});

describe('AMD-Vi: DTE and a GCR3 table that lives with the RID domain', () => {
  const amd = unitOf('amd-vi@7.0');
  const sva = (mm: string): UnitCall => ({ op: 'domain_alloc', body: { domain: `sva-${mm}`, type: 'sva', dev: EP, pasid: true, mm } });

  it('a v2 RID domain gets a GCR3 table; a RID change destroys it and every PASID with it (seed 001 (b))', async () => {
    const run = await runUnit(amd, [
      probe(EP), alloc('v2', 'paging', { pasid: true }), attach(EP, 'v2'), sva('mm1'), setPasid(EP, 1, 'sva-mm1', 'sva'), dma(EP, 0x7000, 1),
      alloc('next', 'paging', { pasid: true }), attach(EP, 'next', 'paging', 'v2'), dma(EP, 0x7000, 1),
    ]);
    expect(word(run.results[5])).toBe('translated:sva:mm1:0x7000');
    expect(run.results[7]).toBe(0);
    expect(word(run.results[8])).toBe('fault');
    expect(run.inspect).toMatchObject({ dte: { [EP]: { mode: 'translate', domain: 'next', gcr3: {} } } });
  });

  it('no GCR3 behind a v1 domain: SVA cannot attach; SVA cannot be replaced; paging domains have no set_dev_pasid', async () => {
    const run = await runUnit(amd, [
      probe(EP), alloc('v1', 'paging', { pasid: false }), attach(EP, 'v1'), sva('mm1'), setPasid(EP, 1, 'sva-mm1', 'sva'),
      alloc('v2', 'paging', { pasid: true }), attach(EP, 'v2', 'paging', 'v1'), setPasid(EP, 1, 'sva-mm1', 'sva'), sva('mm2'), setPasid(EP, 1, 'sva-mm2', 'sva', 'sva-mm1'),
      setPasid(EP, 2, 'v1'),
    ]);
    expect([run.results[4], run.results[7], run.results[9], run.results[10]]).toEqual([errno('EINVAL'), 0, errno('EOPNOTSUPP'), errno('EOPNOTSUPP')]);
    expect(run.inspect).toMatchObject({ dte: { [EP]: { gcr3: { '1': 'sva-mm1' } } } });
  });

  it('blocking the RID destroys the GCR3 table too', async () => {
    const run = await runUnit(amd, [probe(EP), alloc('v2'), attach(EP, 'v2'), sva('mm1'), setPasid(EP, 1, 'sva-mm1', 'sva'), attach(EP, BLOCKED, 'blocked', 'v2'), dma(EP, 0x7000, 1), dma(EP, 0x1000)]);
    expect([word(run.results[6]), word(run.results[7])]).toEqual(['blocked', 'blocked']);
    expect(run.inspect).toMatchObject({ dte: { [EP]: { mode: 'blocked', gcr3: null } } });
  });
});

describe('SMMUv3: STE and CD table', () => {
  it('7.0: the STE keeps the CD table for blocked/identity RIDs while SSIDs are in use, and downgrades when the last goes', async () => {
    const run = await runUnit(unitOf('smmu-v3@7.0'), [
      probe(EP), attach(EP, BLOCKED, 'blocked'), alloc('q'), map('q', 0x5000, 'q-buf'), setPasid(EP, 1, 'q'),
      dma(EP, 0x1000), dma(EP, 0x5000, 1), attach(EP, IDENTITY, 'identity', BLOCKED), dma(EP, 0x1000), dma(EP, 0x5000, 1),
      removePasid(EP, 1, 'q'), dma(EP, 0x1000), dma(EP, 0x5000, 1),
    ]);
    expect([5, 6, 8, 9, 11, 12].map((i) => word(run.results[i]))).toEqual(['blocked', 'translated:q-buf', 'bypass', 'translated:q-buf', 'bypass', 'fault']);
    expect(run.inspect).toMatchObject({ ste: { [EP]: { config: 'bypass', cd: {} } } });
  });

  it('7.0: an S1 RID lives in CD 0 beside the PASIDs', async () => {
    const run = await runUnit(unitOf('smmu-v3@7.0'), [...ridOn(EP, 'rid'), alloc('q'), setPasid(EP, 2, 'q')]);
    expect(run.inspect).toMatchObject({ ste: { [EP]: { config: 'cdtable', s1dss: 'ssid0', cd: { '0': 'p', '2': 'q' } } } });
  });

  it('7.0 with S2 paging domains: a PASID under an S2 RID is -EINVAL; an S2 RID while SSIDs are in use is -EBUSY (seed 001 (c) for S2)', async () => {
    const run = await runUnit(unitOf('smmu-v3@7.0-s2'), [
      probe(EP), alloc('s2', 'paging', { pasid: false }), attach(EP, 's2'), alloc('s1', 'paging', { pasid: true }), setPasid(EP, 1, 's1'),
      attach(EP, BLOCKED, 'blocked', 's2'), setPasid(EP, 1, 's1'), attach(EP, 's2', 'paging', BLOCKED), dma(EP, 0x1000),
    ]);
    expect([run.results[2], run.results[4], run.results[6], run.results[7]]).toEqual([0, errno('EINVAL'), 0, errno('EBUSY')]);
    expect(word(run.results[8])).toBe('blocked');
    expect(run.inspect).toMatchObject({ ste: { [EP]: { config: 'cdtable', s1dss: 'terminate', cd: { '1': 's1' } } } });
  });

  it('5.10: any RID attach while SVA/PASIDs are live is -EBUSY ("cannot attach - SVA enabled", seed 001 (c)); no paging PASIDs', async () => {
    const run = await runUnit(unitOf('smmu-v3@5.10'), [
      ...ridOn(EP, 'rid'), { op: 'domain_alloc', body: { domain: 's', type: 'sva', dev: EP, pasid: true, mm: 'mm1' } }, setPasid(EP, 1, 's', 'sva'),
      attach(EP, BLOCKED, 'blocked', 'p'), alloc('q'), setPasid(EP, 2, 'q'), dma(EP, 0x1000),
    ]);
    expect([run.results[5], run.results[6], run.results[8]]).toEqual([0, errno('EBUSY'), errno('EOPNOTSUPP')]);
    expect(word(run.results[9])).toBe('translated:rid');
  });
});

describe('mock: the iommufd selftest driver', () => {
  const mock = unitOf('mock');

  it('no SVA and no identity domain', async () => {
    const run = await runUnit(mock, [probe(EP), { op: 'domain_alloc', body: { domain: 's', type: 'sva', dev: EP, pasid: true, mm: 'mm1' } }, attach(EP, IDENTITY, 'identity')]);
    expect(run.results.slice(1)).toEqual([errno('EOPNOTSUPP'), errno('EINVAL')]);
  });

  it('PASID 1024: the first attach arms the fault, the next call fails with -ENOMEM, the blocked domain disarms it', async () => {
    const run = await runUnit(mock, [
      probe(EP), alloc('a'), alloc('b'), map('a', 0x5000, 'a-buf'),
      setPasid(EP, 1024, 'a'), setPasid(EP, 1024, 'b', 'paging', 'a'), dma(EP, 0x5000, 1024), setPasid(EP, 1024, 'b', 'paging', 'a'),
      removePasid(EP, 1024, 'b'), setPasid(EP, 1024, 'a'), removePasid(EP, 1024, 'a'), setPasid(EP, 1024, 'b'),
      setPasid(EP, 5, 'a'), setPasid(EP, 5, 'b', 'paging', 'a'),
    ]);
    expect([4, 5, 7, 9, 11, 12, 13].map((i) => run.results[i])).toEqual([0, errno('ENOMEM'), 0, 0, 0, 0, 0]);
    expect(word(run.results[6])).toBe('translated:a-buf');
    expect(run.inspect).toMatchObject({ mock: { [EP]: { pasids: { '1024': 'b', '5': 'b' }, pasid_1024_fake_error: true } } });
  });
});

describe('fault injection (fail_nth)', () => {
  it('the nth call of an op for a device fails with -ENOMEM, once', async () => {
    const run = await runUnit(unitOf('vtd@7.0'), [
      probe(EP), probe(EP2), alloc('q'), { op: 'fault_inject', body: { site: 'set_dev_pasid', dev: EP2, nth: 2 } },
      setPasid(EP, 1, 'q'), setPasid(EP2, 1, 'q'), setPasid(EP2, 2, 'q'), setPasid(EP2, 3, 'q'),
    ]);
    expect(run.results.slice(4)).toEqual([0, 0, errno('ENOMEM'), 0]);
  });
});
