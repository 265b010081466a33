import { DRIVER_CORE } from '../../protocol/kernel.ts';
import type { DriverAction } from '../../protocol/driver-actions.ts';
import type { Call } from '../../protocol/kernel.ts';
import type { Topology } from '../../protocol/topology.ts';
import { kernelCheckers } from '../kernel/checkers.ts';
import { kernelProgram } from '../kernel/program.ts';
import type { Scenario } from '../scenario.ts';

/**
 * Seed 002 (2021, "iommu: Add iommu_at[de]tach_device_shared() for
 * multi-device groups"): Tegra's display controllers sit in one iommu group
 * and their DRM driver attaches one domain to both. Jason: "Present the
 * same domain and your device gets to join the group. Present a different
 * domain and it is rejected", and every interface must use owner_cnt
 * consistently, so VFIO's claim excludes the drivers' and vice versa.
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

const moduleCall = (module: string, actions: readonly DriverAction[]): Call => ({ to: DRIVER_CORE, op: 'module_call', body: { module, actions } });

/** tegra-drm (host1x_client_iommu_attach for each client): one domain with the framebuffer mapped, attached to both controllers, which then scan out. */
export const DRM: readonly DriverAction[] = [
  { do: 'iommu_paging_domain_alloc', dev: DC0, as: 'shared' },
  { do: 'iommu_map', dev: DC0, domain: 'shared', iova: FB_IOVA, page: FB_PAGE },
  { do: 'iommu_attach_device_shared', dev: DC0, domain: 'shared' },
  { do: 'iommu_attach_device_shared', dev: DC1, domain: 'shared' },
  { do: 'dma', dev: DC0, iova: FB_IOVA, write: false },
  { do: 'dma', dev: DC1, iova: FB_IOVA, write: false },
];

/** VFIO's claim of the group (vfio_container_attach_group → iommu_group_claim_dma_owner; see docs/scenarios.md on why it is VFIO's kernel call here). */
export const VFIO_CLAIM: readonly DriverAction[] = [
  { do: 'iommu_group_get', dev: DC0, as: 'g' },
  { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'vfio' },
  { do: 'iommu_group_put', group: 'g' },
];

/** Another driver presents a different domain for one of the controllers. */
export const OTHER: readonly DriverAction[] = [
  { do: 'iommu_paging_domain_alloc', dev: DC1, as: 'other' },
  { do: 'iommu_attach_device_shared', dev: DC1, domain: 'other' },
];

export const seed002SharedAttach: Scenario = {
  name: 'seed-002-shared-attach',
  title: 'two drivers share a domain in a Tegra-like group while VFIO claims it and a third presents another domain',
  variants: { 'shared-attach': ['singleton-only', 'shared-owner-cnt', 'shared-ignores-owner'] },
  program: (v) => kernelProgram({
    name: 'seed-002', topology: TEGRA, variants: v,
    tasks: [
      { id: 'drm', calls: [moduleCall('tegra-drm', DRM)] },
      { id: 'vfio', calls: [moduleCall('vfio', VFIO_CLAIM)] },
      { id: 'other', calls: [moduleCall('other', OTHER)] },
    ],
  }),
  expect: [
    { when: { 'shared-attach': 'singleton-only' }, findings: [] },
    { when: { 'shared-attach': 'shared-owner-cnt' }, findings: [] },
    { when: { 'shared-attach': 'shared-ignores-owner' }, findings: ['isolation-breach'] },
  ],
  // the series counts shared attaches in owner_cnt ("all three need to consistently use the owner_cnt"),
  // which is not 7.0's meaning of it (kernel drivers bound without driver_managed_dma): §8.2 item 4 does not apply
  checkers: () => kernelCheckers({ invariants: { skip: ['owner-cnt'] } }),
};
