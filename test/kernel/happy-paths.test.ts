import { describe, expect, it } from 'vitest';
import { Lockdep } from '../../checkers/lockdep/lockdep.ts';
import { CANONICAL_ORDER } from '../../protocol/lock-classes.ts';
import type { LockClassName } from '../../protocol/lock-classes.ts';
import { DRIVER_CORE, IOMMU_CORE, PCI } from '../../protocol/kernel.ts';
import type { KernelTask } from '../../scenarios/kernel/program.ts';
import { RandomStrategy } from '../../runtime/strategies/random.ts';
import { PctStrategy } from '../../runtime/strategies/pct.ts';
import { call, moduleCall, runKernel, unexpected } from '../helpers/kernel.ts';
import { FN0, FN1, FREE, GPU0, KDUMP, NIC, TOPOLOGY } from './topology.ts';

/**
 * The kernel's happy paths, concurrently, under several schedules: no
 * finding of any kind (no lock inversion against the kernel's canonical
 * order, no race, no lifetime error, and the §8.2 invariants 2–8 hold after
 * every step — the invariants checker evaluates them at every step of the
 * run), and the lock dependency graph contains the canonical edges of §1.2
 * these paths exercise.
 */

const HAPPY: readonly KernelTask[] = [
  // a kernel driver comes and goes on a free singleton, then a user claims it
  { id: 'bind', calls: [call(DRIVER_CORE, 'bind_store', { dev: FREE, driver: 'nic' }), call(DRIVER_CORE, 'unbind_store', { dev: FREE, driver: 'nic' }),
    moduleCall([{ do: 'iommu_group_get', dev: FREE, as: 'g' }, { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'vfio' }, { do: 'iommu_group_release_dma_owner', group: 'g' }, { do: 'iommu_group_put', group: 'g' }])] },
  // SVA on the NIC its driver owns
  { id: 'sva', calls: [moduleCall([{ do: 'iommu_sva_bind_device', dev: NIC, mm: 'mm1', as: 'h' }, { do: 'iommu_sva_unbind_device', handle: 'h' }])] },
  // an FLR of another ATS device
  { id: 'reset', calls: [call(PCI, 'pci_reset_function', { dev: KDUMP })] },
  // iommufd-style device claims of a shared group
  { id: 'claim', calls: [moduleCall([{ do: 'iommu_device_claim_dma_owner', dev: FN0, owner: 'ictx' }, { do: 'iommu_device_claim_dma_owner', dev: FN1, owner: 'ictx' },
    { do: 'iommu_device_release_dma_owner', dev: FN1 }, { do: 'iommu_device_release_dma_owner', dev: FN0 }])] },
  // a driver's private domain on a platform device, and DMA API use
  { id: 'private', calls: [moduleCall([{ do: 'iommu_paging_domain_alloc', dev: GPU0, as: 'd' }, { do: 'iommu_map', dev: GPU0, domain: 'd', iova: 0x1000 },
    { do: 'iommu_unmap', dev: GPU0, domain: 'd', iova: 0x1000 }, { do: 'iommu_domain_free', domain: 'd' }, { do: 'dma_map', dev: NIC, as: 'iova' }])] },
];

/** Hot-remove runs alone: it takes a device away from the others' feet. */
const REMOVE: readonly KernelTask[] = [
  { id: 'remove', calls: [call(PCI, 'pci_stop_and_remove_bus_device_locked', { dev: NIC })] },
  { id: 'get', calls: [call(IOMMU_CORE, 'iommu_group_get', { dev: FN0 })] },
];

const SEEDS = [1, 2, 3, 4, 5, 6];

/** The canonical edges (outer → inner class) the happy paths above must show. */
const EXERCISED: readonly [LockClassName, LockClassName][] = [
  ['iommu_probe_device_lock', 'group->mutex'],
  ['device_lock', 'group->mutex'],
  ['iommu_sva_lock', 'group->mutex'],
  ['pci_rescan_remove_lock', 'device_lock'],
  ['device_lock', 'pci_cfg_access_lock'],
];

describe('kernel happy paths under lockdep, races, lifetime and the §8.2 invariants', () => {
  for (const seed of SEEDS) {
    for (const [name, strategy] of [['random', () => new RandomStrategy(seed)], ['pct', () => new PctStrategy(seed, 3)]] as const) {
      it(`concurrent binds, claims, SVA, reset and DMA: clean (${name}, seed ${seed})`, async () => {
        const run = await runKernel({ name: 'happy', topology: TOPOLOGY, tasks: HAPPY }, { seed, strategy: strategy() });
        expect(run.result.outcome).toBe('completed');
        expect(unexpected(run.result.findings)).toEqual([]);
        for (const t of HAPPY) expect(JSON.stringify(run.result.results[t.id])).not.toMatch(/"E[A-Z]+"/);
      });
    }
  }

  it('hot-remove concurrent with a group lookup: clean', async () => {
    for (const seed of SEEDS) {
      const run = await runKernel({ name: 'remove', topology: TOPOLOGY, tasks: REMOVE }, { seed });
      expect(run.result.outcome).toBe('completed');
      expect(unexpected(run.result.findings)).toEqual([]);
    }
  });

  it('the dependency graph holds the canonical §1.2 edges the paths exercise, and no edge against them', async () => {
    const seen = new Set<string>();
    for (const tasks of [HAPPY, REMOVE]) {
      // a lockdep without the canonical order preloaded: every edge in its graph was taken by the model
      const run = await runKernel({ name: 'edges', topology: TOPOLOGY, tasks }, { seed: 1, checkers: [new Lockdep()] });
      for (const e of run.lockdep.dependencies()) seen.add(`${e.from} -> ${e.to}`);
    }
    for (const [outer, inner] of EXERCISED) expect([...seen], `${outer} -> ${inner}`).toContain(`${outer} -> ${inner}`);
    // an edge whose reverse the kernel takes as well (pciehp's reset_lock and pci_rescan_remove_lock) cannot be "reversed"
    const twoWay = (d: (typeof CANONICAL_ORDER)[number]) => CANONICAL_ORDER.some((x) => x.outer === d.inner && x.inner === d.outer);
    const reversed = CANONICAL_ORDER.filter((d) => !twoWay(d) && seen.has(`${d.inner} -> ${d.outer}`));
    expect(reversed).toEqual([]);
  });
});
