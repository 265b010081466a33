import type { Topology } from '../../protocol/topology.ts';
import { scenarioFromDocument } from '../format/document.ts';
import type { Scenario } from '../scenario.ts';
import { documentTopology } from '../seeds/machine.ts';

/**
 * The lab's own upstream finding (issue 15 item 8 b), no upstream report
 * found: a three-party deadlock between pciehp, a sysfs remove and a reset
 * of the device in the slot. Lockdep cannot see it: every dev->mutex is in
 * lockdep's novalidate class (drivers/base/core.c: device_initialize() →
 * lockdep_set_novalidate_class(&dev->mutex)), and one edge of the cycle is
 * a device_lock. iommu-lab validates device_lock, so it reports both the
 * inversion and the deadlock itself.
 *
 * 1. pciehp IST, drivers/pci/hotplug/pciehp_hpc.c pciehp_ist():
 *    down_read_nested(&ctrl->reset_lock, ctrl->depth), then (link down)
 *    pciehp_handle_presence_or_link_change() → pciehp_disable_slot() →
 *    remove_board() → pciehp_unconfigure_device()
 *    (drivers/pci/hotplug/pciehp_pci.c): pci_lock_rescan_remove() with
 *    reset_lock still held for read. f5eff5591b8f ("PCI: pciehp: Fix AB-BA
 *    deadlock between reset_lock and device_lock") drops reset_lock only
 *    around pci_stop_and_remove_bus_device() inside the loop.
 *    Holds reset_lock (read), waits for pci_rescan_remove_lock.
 * 2. sysfs remove, drivers/pci/pci-sysfs.c remove_store() →
 *    pci_stop_and_remove_bus_device_locked() (drivers/pci/remove.c):
 *    pci_lock_rescan_remove(), then pci_stop_bus_device() →
 *    device_release_driver() → device_lock(&dev->dev).
 *    Holds pci_rescan_remove_lock, waits for device_lock(D).
 * 3. reset of D, drivers/pci/pci-sysfs.c reset_store() → pci_reset_function()
 *    (drivers/pci/pci.c): pci_dev_lock(D) = device_lock(D), then
 *    __pci_reset_function_locked() → pci_reset_bus_function() →
 *    pci_reset_hotplug_slot() → pciehp_reset_slot()
 *    (drivers/pci/hotplug/pciehp_hpc.c): down_write_nested(&ctrl->reset_lock,
 *    ctrl->depth).
 *    Holds device_lock(D), waits for reset_lock (write) behind the IST's read hold.
 *
 * Candidate fix (variant `pciehp-unconfigure=drop-reset-lock-first`): drop
 * reset_lock before pci_lock_rescan_remove() in pciehp_unconfigure_device(),
 * so the IST never waits for pci_rescan_remove_lock while holding it.
 */

const RP = '0000:00:1c.0';
const DEV = '0000:01:00.0';

const MACHINE: Topology = {
  units: [{ name: 'vtd0', kind: 'vtd' }],
  pci: [
    { bdf: RP, bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
    // in the hotplug slot of the root port; its reset method is the slot's secondary bus reset (pciehp_reset_slot)
    { bdf: DEV, parent: RP, unit: 'vtd0', slot: 'slot1', reset_methods: ['bus'], driver: 'nic' },
  ],
  drivers: [{ name: 'pcieport', bus: 'pci' }, { name: 'nic', bus: 'pci' }],
};

export const PCIEHP_THREE_PARTY_DOCUMENT = {
  name: 'upstream-pciehp-three-party',
  title: 'pciehp link-down, sysfs remove and a slot reset of the same device deadlock through reset_lock',
  topology: documentTopology(MACHINE),
  variants: { 'pciehp-unconfigure': ['reset-lock-held', 'drop-reset-lock-first'] },
  tasks: [
    { name: 'pciehp', ops: [{ op: 'pci.surprise_remove', slot: 'slot1' }] },
    { name: 'remove', ops: [{ op: 'pci.hot_remove', dev: DEV }] },
    { name: 'reset', ops: [{ op: 'pci.sysfs_reset', dev: DEV }] },
  ],
  // The scenario runs the IST path itself, so lockdep sees its reset_lock → pci_rescan_remove_lock edge when the
  // code takes it; the preloaded copy of that edge (the 7.0 order) is left out, or the fixed variant would still be
  // charged with the order its fix removes (kernel rules as data: docs/scenarios.md).
  rules: [{
    reason: 'the scenario runs pciehp_unconfigure_device() itself: lockdep sees its reset_lock → pci_rescan_remove_lock edge only where the code takes it',
    lockdep: { drop: [{ outer: 'ctrl->reset_lock', inner: 'pci_rescan_remove_lock' }] },
  }],
  expect: [
    { when: { 'pciehp-unconfigure': 'reset-lock-held' }, findings: ['deadlock', 'lock-order-inversion'] },
    { when: { 'pciehp-unconfigure': 'drop-reset-lock-first' }, findings: [] },
  ],
};

export const upstreamPciehpThreeParty: Scenario = scenarioFromDocument(PCIEHP_THREE_PARTY_DOCUMENT, 'scenarios/upstream/pciehp-three-party.ts');
