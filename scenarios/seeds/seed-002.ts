import type { Topology } from '../../protocol/topology.ts';
import { scenarioFromDocument } from '../format/document.ts';
import type { Scenario } from '../scenario.ts';
import { documentTopology } from './machine.ts';

/**
 * Seed 002 (2021, "iommu: Add iommu_at[de]tach_device_shared() for
 * multi-device groups"): Tegra's display controllers sit in one iommu group
 * and their DRM driver attaches one domain to both. Jason: "Present the
 * same domain and your device gets to join the group. Present a different
 * domain and it is rejected", and every interface must use owner_cnt
 * consistently, so VFIO's claim excludes the drivers' and vice versa.
 * Written as a scenario document: `show` prints it, `run` takes it back.
 */

export const UNIT = 'smmu0';
export const DC0 = 'dc0';
export const DC1 = 'dc1';
export const FB_IOVA = 0x1000;
/** The framebuffer both display controllers scan out: kernel memory. */
export const FB_PAGE = 'tegra-drm-fb';

/**
 * Two platform devices a device_group op puts in one group (Tegra's memory
 * clients); their driver manages DMA itself (suppress_auto_claim_dma_owner
 * in the series, driver_managed_dma here), so binding it does not count in
 * owner_cnt.
 */
export const TEGRA: Topology = {
  units: [{ name: UNIT, kind: 'smmu-v3' }],
  pci: [],
  platform: [
    { name: DC0, unit: UNIT, group: 'tegra-dc', driver: 'tegra-dc' },
    { name: DC1, unit: UNIT, group: 'tegra-dc', driver: 'tegra-dc' },
  ],
  drivers: [{ name: 'tegra-dc', bus: 'platform', driver_managed_dma: true }],
};

export const SEED002_DOCUMENT = {
  name: 'seed-002-shared-attach',
  title: 'two drivers share a domain in a Tegra-like group while VFIO claims it and a third presents another domain',
  topology: documentTopology(TEGRA),
  variants: { 'shared-attach': ['singleton-only', 'shared-owner-cnt', 'shared-ignores-owner'] },
  tasks: [
    // tegra-drm (host1x_client_iommu_attach for each client): one domain with the framebuffer mapped,
    // attached to both controllers, which then scan out
    {
      name: 'drm', ops: [{
        op: 'module.call', actions: [
          { do: 'iommu_paging_domain_alloc', dev: DC0, as: 'shared' },
          { do: 'iommu_map', dev: DC0, domain: 'shared', iova: FB_IOVA, page: FB_PAGE },
          { do: 'iommu_attach_device_shared', dev: DC0, domain: 'shared' },
          { do: 'iommu_attach_device_shared', dev: DC1, domain: 'shared' },
          { do: 'dma', dev: DC0, iova: FB_IOVA, write: false },
          { do: 'dma', dev: DC1, iova: FB_IOVA, write: false },
        ],
      }],
    },
    // VFIO's claim of the group (vfio_container_attach_group → iommu_group_claim_dma_owner). The model's VFIO
    // serves PCI devices (vfio-pci) only, so for a platform group it is the kernel call VFIO makes, not a process.
    { name: 'vfio', ops: [{ op: 'iommu.group_claim', dev: DC0, owner: 'vfio' }] },
    // another driver presents a different domain for one of the controllers
    {
      name: 'other', ops: [{
        op: 'module.call', actions: [
          { do: 'iommu_paging_domain_alloc', dev: DC1, as: 'other' },
          { do: 'iommu_attach_device_shared', dev: DC1, domain: 'other' },
        ],
      }],
    },
  ],
  // The series counts shared attaches in owner_cnt ("all three need to consistently use the owner_cnt"),
  // not 7.0's meaning of it (kernel drivers bound without driver_managed_dma): §8.2 item 4 does not apply.
  checkers: { skip_invariants: ['owner-cnt'] },
  expect: [
    // what merged: iommu_attach_device() refuses a multi-device group (-EINVAL)
    { when: { 'shared-attach': 'singleton-only' }, findings: [] },
    // the same domain joins, a different one is refused (-EBUSY), VFIO's claim -EPERM — or VFIO first and the attaches -EPERM
    { when: { 'shared-attach': 'shared-owner-cnt' }, findings: [] },
    // VFIO owns the group and the shared attach switches it anyway: the controllers reach the kernel's framebuffer
    { when: { 'shared-attach': 'shared-ignores-owner' }, findings: ['isolation-breach'] },
  ],
};

export const seed002SharedAttach: Scenario = scenarioFromDocument(SEED002_DOCUMENT, 'scenarios/seeds/seed-002.ts');
