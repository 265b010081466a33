import { describe, expect, it } from 'vitest';
import { Lockdep } from '../../checkers/lockdep/lockdep.ts';
import { CANONICAL_ORDER } from '../../protocol/lock-classes.ts';
import type { ProcOp, ProcessSpec } from '../../protocol/vfio.ts';
import { PctStrategy } from '../../runtime/strategies/pct.ts';
import { RandomStrategy } from '../../runtime/strategies/random.ts';
import {
  attachPt, bindIommufd, cdevPath, detachPt, dma, exit, getDeviceFd, groupPath, ioasMap, ioctl, mapDma, openCdev, openGroup, openIommufd,
  post, procResults, runVfio, setReq, unbind, unexpected, wait,
} from './helpers.ts';
import { EP, FN0, FN1, ROOT, SLOTDEV } from './topology.ts';

/**
 * VFIO's happy paths, concurrently, under several schedules: every process
 * gets what it asks for, nothing is reported by any checker (lockdep with
 * the kernel's canonical order preloaded, races, lifetime, the §8.2
 * invariants, the VFIO invariants, WARN sites, isolation), and a lockdep
 * without a preloaded order sees the §1.2 VFIO/iommufd edges 13–24 these
 * paths take — and none of the edges the kernel avoids with trylocks.
 */

/** The legacy path: type1 map, device DMA, a function reset, a hot reset of its own bus, unmap. */
const LEGACY: ProcOp[] = [
  ...groupPath(EP), mapDma(0x1000, 1), dma('device', 0x1000), ioctl('device', { cmd: 'VFIO_DEVICE_RESET' }),
  ioctl('device', { cmd: 'VFIO_DEVICE_PCI_HOT_RESET', groups: ['group'] }), ioctl('container', { cmd: 'VFIO_IOMMU_UNMAP_DMA', iova: 0x1000 }), exit,
];
/** The native path on a two-device group: both bound to one iommufd, one auto domain, DMA, detach. */
const NATIVE: ProcOp[] = [
  ...cdevPath(FN0), openCdev(FN1, 'd1'), bindIommufd('d1', 'iommufd', 'devid1'), attachPt('ioas', 'd1'), ioasMap(0x2000, 2),
  dma('device', 0x2000), dma('d1', 0x2000), detachPt('d1'), detachPt(), exit,
];
/** The group path over iommufd (VFIO compat): ownership at first open, the compat IOAS. */
const COMPAT: ProcOp[] = [
  openGroup(ROOT), openIommufd(), ioctl('group', { cmd: 'VFIO_GROUP_SET_CONTAINER', container: 'iommufd' }), getDeviceFd(ROOT),
  ioctl('iommufd', { cmd: 'VFIO_IOMMU_MAP_DMA', iova: 0x3000, vaddr: 3 }), dma('device', 0x3000), exit,
];
/** A VM whose device the host unbinds: it gives the device back on the request eventfd, then exits. */
const VICTIM: ProcOp[] = [...groupPath(SLOTDEV), setReq(), mapDma(0x4000, 4), post('ready'), wait('unbound'), exit];
const ADMIN: ProcOp[] = [wait('ready'), unbind(SLOTDEV), post('unbound')];

const PROCESSES: readonly ProcessSpec[] = [
  { name: 'legacy', ops: LEGACY }, { name: 'native', ops: NATIVE }, { name: 'compat', ops: COMPAT },
  { name: 'victim', ops: VICTIM }, { name: 'admin', ops: ADMIN },
];

const SEEDS = [1, 2, 3, 4];

/** The §1.2 edges (outer → inner lock class) the paths above take. */
const EXERCISED: readonly (readonly [string, string, string])[] = [
  ['13', 'device_lock', 'vfio.group_lock'],
  ['13', 'vfio.group_lock', 'vfio_group->device_lock'],
  ['14', 'device_lock', 'vfio_device->comp'],
  ['14', 'vfio.group_lock', 'vfio_group->group_lock'],
  ['15', 'vfio_group->group_lock', 'dev_set->lock'],
  ['17', 'vfio_group->group_lock', 'container->group_lock'],
  ['17', 'container->group_lock', 'group->mutex'],
  ['18', 'container->group_lock', 'vfio_iommu->lock'],
  ['18', 'vfio_iommu->lock', 'group->mutex'],
  ['19', 'dev_set->lock', 'group->mutex'],
  ['20', 'vdev->memory_lock', 'group->mutex'],
  ['22', 'ioas->mutex', 'igroup->lock'],
  ['22', 'igroup->lock', 'group->mutex'],
  ['23', 'igroup->lock', 'iopt->iova_rwsem'],
  ['24', 'dev_set->lock', 'igroup->lock'],
];

/** Edges the kernel never has: it takes these inner locks only by trylock (§1.2 edges 16, 20, 21). */
const TRYLOCK_ONLY: readonly (readonly [string, string])[] = [
  ['dev_set->lock', 'device_lock'],
  ['dev_set->lock', 'vdev->memory_lock'],
  ['vdev->memory_lock', 'device_lock'],
];

describe('VFIO happy paths under lockdep, races, lifetime, isolation and the invariants', () => {
  for (const seed of SEEDS) {
    for (const [name, strategy] of [['random', () => new RandomStrategy(seed)], ['pct', () => new PctStrategy(seed, 3)]] as const) {
      it(`legacy, native and compat users plus a host unbind: clean (${name}, seed ${seed})`, async () => {
        const run = await runVfio({ processes: PROCESSES }, { seed, strategy: strategy() });
        expect(run.result.outcome).toBe('completed');
        expect(unexpected(run.result.findings)).toEqual([]);
        for (const p of PROCESSES) expect(JSON.stringify(procResults(run, p.name)), p.name).not.toMatch(/"E[A-Z]+"/);
        // every user DMA reached the user page it mapped
        for (const p of ['legacy', 'native', 'compat']) {
          for (const r of procResults(run, p)) if (typeof r === 'object' && r !== null && 'outcome' in r) expect((r as unknown as { readonly target: string }).target).toMatch(new RegExp(`^user:${p}:`));
        }
        // everything went back: no user owns a group, every vfio file is closed
        expect(run.core.groups.filter((g) => g.owner !== null)).toEqual([]);
        expect(run.vfio.files).toEqual([]);
      });
    }
  }

  it('the same execution in the inline and the workers host', async () => {
    const processes = PROCESSES.filter((p) => p.name === 'legacy' || p.name === 'native');
    const inline = await runVfio({ processes }, { seed: 3 });
    const workers = await runVfio({ processes }, { seed: 3, host: 'workers' });
    expect(workers.result.outcome).toBe('completed');
    expect(workers.result.traceHash).toBe(inline.result.traceHash);
    expect(workers.vfio).toEqual(inline.vfio);
  });

  it('lockdep sees the §1.2 edges 13–24 the paths take, none against the canonical order, none the kernel avoids with trylocks', async () => {
    const seen = new Set<string>();
    for (const seed of [1, 2]) {
      // a lockdep without the canonical order preloaded: every edge in its graph was taken by the model
      const lockdep = new Lockdep();
      const run = await runVfio({ processes: PROCESSES }, { seed, checkers: [lockdep] });
      expect(run.result.outcome).toBe('completed');
      for (const e of lockdep.dependencies()) seen.add(`${e.from} -> ${e.to}`);
    }
    for (const [edge, outer, inner] of EXERCISED) expect([...seen], `§1.2 edge ${edge}: ${outer} -> ${inner}`).toContain(`${outer} -> ${inner}`);
    // an edge whose reverse the kernel takes as well (pciehp's reset_lock and pci_rescan_remove_lock) cannot be "reversed"
    const twoWay = (d: (typeof CANONICAL_ORDER)[number]) => CANONICAL_ORDER.some((x) => x.outer === d.inner && x.inner === d.outer);
    expect(CANONICAL_ORDER.filter((d) => !twoWay(d) && seen.has(`${d.inner} -> ${d.outer}`))).toEqual([]);
    for (const [outer, inner] of TRYLOCK_ONLY) expect([...seen]).not.toContain(`${outer} -> ${inner}`);
  });
});
