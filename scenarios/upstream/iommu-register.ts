import type { Topology } from '../../protocol/topology.ts';
import { DRIVER_CORE, IOMMU_CORE } from '../../protocol/kernel.ts';
import type { KnownFinding } from '../../fuzz/known.ts';
import { kernelCheckers } from '../kernel/checkers.ts';
import { scenarioFromDocument } from '../format/document.ts';
import { documentTopology } from '../seeds/machine.ts';
import type { Scenario } from '../scenario.ts';

/**
 * An IOMMU registered at run time while devices come and go
 * (docs/kernel-facts.md §6 B5 and B6; actors/iommu-core/register.ts).
 *
 * `dmar1` is a VT-d unit whose driver registers it after boot (DMAR
 * hotplug: intel_iommu_add → iommu_device_register): nothing it translates
 * is probed by the IOMMU at boot. A sysfs rescan hot-adds devices behind it
 * while the unit registers, so two walkers meet in __iommu_probe_device():
 * the bus notifier of each device_add (iommu_probe_device) and
 * bus_iommu_probe() of the registration — each drops
 * iommu_probe_device_lock around the bus dma_configure hook
 * (iommu_init_device), with no device_lock.
 *
 * dmar0 is registered at boot and translates a bound NIC: the registration
 * walks its devices too (bus_iommu_probe is not selective) and leaves them.
 */

const RP0 = '0000:00:1c.0';
const NIC = '0000:01:00.0';
/** A hot-plug root port behind dmar1 (ACS: each endpoint is its own group). */
const HP = '0000:00:1d.0';
const EP1 = '0000:02:00.0';
const EP2 = '0000:02:01.0';

const b6Topology: Topology = {
  units: [
    { name: 'dmar0', kind: 'vtd' },
    { name: 'dmar1', kind: 'vtd', present_at_boot: false },
  ],
  pci: [
    { bdf: RP0, bridge: true, acs: true, unit: 'dmar0', driver: 'pcieport' },
    { bdf: NIC, parent: RP0, unit: 'dmar0', driver: 'nic' },
    { bdf: HP, bridge: true, acs: true, unit: 'dmar1', hotplug: true },
    { bdf: EP1, parent: HP, unit: 'dmar1', hotplug: true },
    { bdf: EP2, parent: HP, unit: 'dmar1', hotplug: true },
  ],
  drivers: [
    { name: 'pcieport', bus: 'pci' },
    { name: 'nic', bus: 'pci' },
  ],
};


/**
 * What B5's fix leaves (its commit: the fundamental race is not fixed, only
 * the torn read): a driver binding while the IOMMU probe of its device runs.
 * Re-read against 7.0 (drivers/iommu/iommu.c) for issue 16: both findings
 * are what the kernel does, so they stay known (for the scenarios of this
 * file and the happy-path test, not project-wide), each with the lines that
 * make it. The late-probe WARN is on the project's list (fuzz/known.ts).
 */
export const REGISTER_RACE_KNOWN: readonly KnownFinding[] = [
  {
    id: 'late-iommu-probe', kind: 'invariant-violation', signature: 'invariant-violation:owner-cnt:',
    reason: 'B5\'s remaining race, owner_cnt one low: the walk\'s __iommu_probe_device() → iommu_init_device() has allocated dev->iommu and ' +
      'dropped iommu_probe_device_lock around dev->bus->dma_configure(); the async probe\'s really_probe() → platform_dma_configure() → ' +
      'of_iommu_configure() sees dev->iommu present (no replay), and iommu_device_use_default_domain() finds dev->iommu_group still NULL ' +
      '("if (!group) return 0") — the driver binds uncounted. The walk then sets dev->iommu_group (iommu_init_device: "dev->iommu_group = group;"), ' +
      'WARNs "late IOMMU probe at driver bind", and the group gets its default domain with owner_cnt 0; the unbind\'s ' +
      'iommu_device_unuse_default_domain() hits WARN_ON(!group->owner_cnt).',
    reference: 'drivers/iommu/iommu.c (7.0): iommu_init_device() (dma_configure window, "dev->iommu_group = group;" under iommu_probe_device_lock), ' +
      'iommu_device_use_default_domain() ("struct iommu_group *group = dev->iommu_group; if (!group) return 0;"), ' +
      'iommu_device_unuse_default_domain() (WARN_ON(!group->owner_cnt)); drivers/iommu/of_iommu.c of_iommu_configure() (replay only if !dev_iommu_present); ' +
      'docs/kernel-facts.md §6 B5; 78447d4545b2', source: 'upstream',
  },
  {
    id: 'late-iommu-probe', kind: 'data-race', signature: 'data-race|device.iommu_group|',
    reason: 'The binding driver\'s dma_configure() reads dev->iommu_group with a plain load under device_lock only, while the registration\'s ' +
      'walk stores it with a plain store under iommu_probe_device_lock only: no common lock, no READ_ONCE/WRITE_ONCE — KCSAN reports the pair.',
    reference: 'drivers/iommu/iommu.c (7.0): iommu_device_use_default_domain() "/* Caller is the driver core during the pre-probe path */ ' +
      'struct iommu_group *group = dev->iommu_group;" (from platform_dma_configure/pci_dma_configure in really_probe) against iommu_init_device() ' +
      '"dev->iommu_group = group;" (lockdep_assert_held(&iommu_probe_device_lock) in __iommu_probe_device); docs/kernel-facts.md §1.4', source: 'upstream',
  },
];

/**
 * B5's machine: the platform half ("platform: Fix race condition during DMA
 * configure at IOMMU probe time"). smmu1 (SMMUv3, described by firmware)
 * registers after boot; its two DSPs have an asynchronous driver
 * (PROBE_PREFER_ASYNCHRONOUS) that deferred at boot — of_iommu_configure()
 * is -EPROBE_DEFER while the IOMMU's driver has not registered it. A sysfs
 * bind of an unrelated device (driver_bound → driver_deferred_probe_trigger)
 * retries them while smmu1 registers: each DSP's probe runs in its own
 * async task (__device_attach_async_helper), concurrently with the
 * registration's bus walk, which reaches the DSPs first (iommu_buses[]
 * starts with the platform bus).
 */
const b5Topology: Topology = {
  units: [{ name: 'smmu1', kind: 'smmu-v3', present_at_boot: false }],
  pci: [],
  platform: [
    { name: 'dsp0', unit: 'smmu1', driver: 'dsp' },
    { name: 'dsp1', unit: 'smmu1', driver: 'dsp' },
    { name: 'uart0' },
  ],
  drivers: [
    { name: 'dsp', bus: 'platform', probe_type: 'async' },
    { name: 'serial', bus: 'platform' },
  ],
};
const b5Tasks = [
  { id: 'register', calls: [{ to: IOMMU_CORE, op: 'iommu_device_register', body: { unit: 'smmu1' } }] },
  { id: 'bind', calls: [{ to: DRIVER_CORE, op: 'bind_store', body: { dev: 'uart0', driver: 'serial' } }] },
];

/**
 * B5 ("PCI: Fix driver_managed_dma check", 78447d4545b2, and the platform
 * half): the registration's walk opens the dma_configure window for a DSP
 * whose async probe runs at the same time. Before the fix
 * platform_dma_configure() reads dev->driver twice — NULL, then (after
 * of_dma_configure) the driver really_probe() just set — and dereferences
 * the pointer it computed from NULL (kernel-bug). After it one READ_ONCE
 * snapshot decides; what is left is the race itself (REGISTER_RACE_KNOWN).
 */
export const REGISTER_ASYNC_PROBE_DOCUMENT = {
  name: 'b5-register-vs-async-probe',
  title: 'B5: iommu_device_register() walks a device while its async probe sets dev->driver',
  topology: documentTopology(b5Topology),
  variants: { 'dma-configure-driver': ['double-read', 'read-once'] },
  tasks: [
    { name: 'register', ops: [{ op: 'iommu.register', unit: 'smmu1' }] },
    { name: 'bind', ops: [{ op: 'driver.bind', dev: 'uart0', driver: 'serial' }] },
  ],
  expect: [
    { when: { 'dma-configure-driver': 'double-read' }, includes: ['kernel-bug'] },
    { when: { 'dma-configure-driver': 'read-once' }, findings: [] },
  ],
  known: REGISTER_RACE_KNOWN,
};

export const registerAsyncProbe: Scenario = {
  ...scenarioFromDocument(REGISTER_ASYNC_PROBE_DOCUMENT, 'scenarios/upstream/iommu-register.ts'),
  checkers: () => kernelCheckers(),
};

/**
 * B6 ("iommu: Avoid introducing more races", 0c8e9c148e29): two walkers
 * (the registration's bus walk and a device_add's notifier) both in the
 * dma_configure window of one hot-added device; one finishes the probe.
 * Without the recheck after retaking iommu_probe_device_lock the other goes
 * on initialising a probed device: a second "iommu_group" sysfs link
 * (sysfs_warn_dup, kernel-warn) and its unwind tearing down the first
 * walker's dev->iommu. With it: -ENODEV, skipped.
 */
export const REGISTER_TWO_WALKERS_DOCUMENT = {
  name: 'b6-register-two-walkers',
  title: 'B6: bus_iommu_probe() and a hot-add\'s IOMMU probe both in iommu_init_device()\'s dma_configure window',
  topology: documentTopology(b6Topology),
  variants: { 'init-device-recheck': ['none', 'enodev'] },
  tasks: [
    { name: 'register', ops: [{ op: 'iommu.register', unit: 'dmar1' }] },
    { name: 'rescan', ops: [{ op: 'pci.rescan', dev: HP }] },
  ],
  expect: [
    { when: { 'init-device-recheck': 'none' }, includes: ['kernel-warn'] },
    { when: { 'init-device-recheck': 'enodev' }, findings: [] },
  ],
};

export const registerTwoWalkers: Scenario = {
  ...scenarioFromDocument(REGISTER_TWO_WALKERS_DOCUMENT, 'scenarios/upstream/iommu-register.ts'),
  checkers: () => kernelCheckers(),
};

/** The bench's topology and tasks (bench/, `kernel.register.executionsPerSec`): B5's machine at the fixed variants. */
export const REGISTER_BENCH = { topology: b5Topology, tasks: b5Tasks } as const;
