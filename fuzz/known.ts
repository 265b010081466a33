import type { Finding, FindingKind } from '../protocol/findings.ts';
import type { FuzzDocument } from './document.ts';

/**
 * Findings a campaign expects and does not report as new: what the model
 * at its fixed variants says about the kernel (genuine upstream issues, with
 * where they were reported or read), plus the model's own known departures
 * from the kernel. A campaign counts them ("known: N") and writes no
 * reproducer for them. The generator is never bent to avoid them.
 *
 * An entry matches a finding of its kind whose signature starts with
 * `signature` and, if given, whose signature, report or task stacks contain every
 * string of `contains` (to tell apart findings that share a site), and for
 * which `when` (if given) holds in the generated document that found it.
 */
export interface KnownFinding {
  /** A short id, shown in the campaign's summary. */
  readonly id: string;
  readonly kind: FindingKind;
  readonly signature: string;
  readonly contains?: readonly string[];
  /** Why it is expected. */
  readonly reason: string;
  /** Where it was reported, or the kernel source / model document that explains it. */
  readonly reference: string;
  /** `upstream`: the kernel really does this. `model`: the model departs from the kernel here. */
  readonly source: 'upstream' | 'model';
  /** A condition on the workload (the finding alone cannot tell). */
  readonly when?: (f: Finding, doc: FuzzDocument) => boolean;
}

/** The device a DMA report names ("DMA write by 0000:02:00.0 at IOVA ..."). */
const dmaDevice = (f: Finding): string | null => /DMA (?:write|read) by (\S+)/.exec(f.report)?.[1] ?? null;

const PCIEHP_REASON =
  'pciehp: since f5eff5591b8f the slot\'s reset_lock is retaken while pci_rescan_remove_lock is held, and a slot reset takes it under device_lock: ' +
  'reset_lock → pci_rescan_remove_lock → device_lock → reset_lock, three tasks (the IRQ thread, a sysfs remove, a reset), real as read ' +
  '(the lab\'s own finding: scenarios/upstream/pciehp-three-party.ts; no upstream report of this cycle found). The two-lock cycle ' +
  'reset_lock ↔ pci_rescan_remove_lock is not reported, neither made by one pciehp_ist() alone (the maintainer rejected it against 6.14: ' +
  '"pciehp_ist() is single-threaded"; protocol/contexts.ts) nor by the IRQ threads of two controllers (each retakes only its own reset_lock; ' +
  'docs/checkers.md "Hand-overs between threads of one kind").';

const CONTAINER_FLR_REASON =
  'Closing a VFIO container during a sysfs FLR of a member: 7.0.0 refuses even the nofail detach while the group resets (WARN), type1 then frees ' +
  'the domain the group still uses, and the reset\'s done and the later release attach from the freed domain.';

const SRIOV_RESCAN_REASON =
  'SR-IOV in 7.0: a5338e365c45 ("PCI/IOV: Fix race between SR-IOV enable/disable and hotplug") takes pci_rescan_remove_lock in ' +
  'sriov_numvfs_store() with the PF\'s device_lock held, the reverse of pci_stop_and_remove_bus_device()\'s pci_rescan_remove_lock → device_lock: ' +
  'a sysfs remove of the PF racing a write to sriov_numvfs (or an unbind whose remove() disables SR-IOV) is an AB-BA deadlock. Reported against ' +
  'it in 2026-03; the proposed fix unbinds the driver in remove_store() before taking pci_rescan_remove_lock. The kernel\'s lockdep does not see it ' +
  '(device_lock is novalidate); the model validates device_lock (docs/kernel-model.md "Lock classes the kernel does not validate").';

export const KNOWN: readonly KnownFinding[] = [
  {
    id: 'sriov-numvfs-rescan-lock', kind: 'lock-order-inversion', signature: 'lock-order-inversion|', contains: ['sriov_numvfs_store', 'pci_rescan_remove_lock'],
    reason: SRIOV_RESCAN_REASON,
    reference: 'drivers/pci/iov.c sriov_numvfs_store() (a5338e365c45); linux-pci 2026-03 (Guenter Roeck; Benjamin Block) and "PCI: Fix AB-BA deadlock between remove_store and sriov_numvfs_store" (Ionut Nechita, Fixes: a5338e365c45); actors/pci/iov.ts', source: 'upstream',
  },
  {
    id: 'sriov-numvfs-rescan-lock', kind: 'deadlock', signature: 'deadlock|', contains: ['sriov_numvfs_store', 'pci_rescan_remove_lock'],
    reason: SRIOV_RESCAN_REASON + ' Here it happens: the remover holds pci_rescan_remove_lock and waits for the PF\'s device_lock, which the sriov_numvfs writer holds while it waits for pci_rescan_remove_lock.',
    reference: 'drivers/pci/iov.c sriov_numvfs_store() (a5338e365c45); actors/pci/iov.ts', source: 'upstream',
  },
  {
    id: 'pciehp-reset-lock', kind: 'lock-order-inversion', signature: 'lock-order-inversion|ctrl->reset_lock', contains: ['pci_rescan_remove_lock'],
    reason: PCIEHP_REASON, reference: 'scenarios/upstream/pciehp-three-party.ts (the kernel lines); f5eff5591b8f "PCI: pciehp: Fix AB-BA deadlock between reset_lock and device_lock"; the rejected 6.14 two-lock report; docs/checkers.md "Single-threaded contexts"', source: 'upstream',
  },
  {
    id: 'pciehp-reset-lock', kind: 'deadlock', signature: 'deadlock|', contains: ['ctrl->reset_lock', 'pci_rescan_remove_lock'],
    reason: PCIEHP_REASON + ' Here the inversion lockdep predicts happens: a removal holds reset_lock waiting for pci_rescan_remove_lock, whose holder waits for a device_lock whose holder waits for reset_lock.',
    reference: 'scenarios/upstream/pciehp-three-party.ts; f5eff5591b8f; docs/kernel-model.md "PCI removal"', source: 'upstream',
  },
  {
    id: 'vfio-container-iommu-driver-race', kind: 'data-race', signature: 'data-race|vfio_container.iommu',
    reason: 'vfio_fops_unl_ioctl() reads container->iommu_driver/iommu_data without container->group_lock; hot-removing the last device of a still-open group detaches the container (and releases type1) concurrently with VFIO_IOMMU_MAP_DMA.',
    reference: 'drivers/vfio/container.c vfio_ioctl_*; docs/vfio.md "Observations, as read"', source: 'upstream',
  },
  {
    id: 'vfio-container-close-during-flr', kind: 'kernel-warn', signature: 'kernel-warn|iommu-core.iommu_detach_group|__iommu_group_set_domain_nofail',
    reason: CONTAINER_FLR_REASON, reference: 'docs/kernel-facts.md §3.3 (resetting_domain ⇒ -EBUSY even for nofail), §7.3 conformance case 3; docs/vfio.md "Observations, as read"', source: 'upstream',
  },
  {
    id: 'vfio-container-iommu-driver-race', kind: 'use-after-free', signature: 'use-after-free|vfio_iommu|',
    reason: 'The same race, one step on: the type1 backend the ioctl read without container->group_lock is released by the last group leaving ' +
      '(vfio_unregister_group_dev() on a hot-remove or unbind) while VFIO_IOMMU_MAP_DMA / UNMAP_DMA still uses it.',
    reference: 'docs/vfio.md "Observations, as read" ("the backend it read may be freed")', source: 'upstream',
  },
  {
    id: 'vfio-container-iommu-driver-race', kind: 'lock-misuse', signature: 'lock-misuse|held-lock-freed|vfio_iommu->lock|',
    reason: 'The same race seen by lockdep: the backend is freed while the ioctl holds its lock.',
    reference: 'docs/vfio.md "Observations, as read"', source: 'upstream',
  },
  {
    id: 'nofail-refused-during-reset', kind: 'kernel-warn', signature: 'kernel-warn|iommu-core.', contains: ['__iommu_group_set_domain_nofail: WARN_ON(EBUSY)'],
    reason: '7.0.0 refuses every domain switch of a group while a member resets (group->resetting_domain), the nofail ones too: a DMA ownership ' +
      'release (a driver_managed_dma driver unbinding, a VFIO group leaving its container) during a member\'s FLR WARNs and leaves the group on the ' +
      'owner\'s domain. The container-close case above is one instance.',
    reference: 'docs/kernel-facts.md §3.3 ("resetting_domain set ⇒ -EBUSY even for the nofail variant"), §7.3 conformance case 3', source: 'upstream',
  },
  {
    id: 'vfio-container-close-during-flr', kind: 'use-after-free', signature: 'use-after-free|iommu_domain|', contains: ['iommu_domain_free', 'vfio:'],
    reason: CONTAINER_FLR_REASON, reference: 'docs/vfio.md "Observations, as read"', source: 'upstream',
  },
  {
    id: 'vfio-container-close-during-flr', kind: 'invariant-violation', signature: 'invariant-violation:freed-domain:iommu-core.iommu_domain_free', contains: ['vfio:'],
    reason: CONTAINER_FLR_REASON, reference: 'docs/vfio.md "Observations, as read"', source: 'upstream',
  },
  {
    id: 'vfio-container-close-during-flr', kind: 'kernel-warn', signature: 'kernel-warn|iommu-core.pci_dev_reset_iommu_done|', contains: ['WARN_ON(__iommu_attach_device'],
    reason: CONTAINER_FLR_REASON, reference: 'docs/vfio.md "Observations, as read"', source: 'upstream',
  },
  {
    id: 'group-reset-fence', kind: 'kernel-warn', signature: 'kernel-warn|iommu-core.pci_dev_reset_iommu_prepare|', contains: ['another member is resetting'],
    reason: '7.0.0 fences a whole iommu group while one member resets (group->resetting_domain); a reset of another member of the same group meanwhile ' +
      '(two functions of a multi-function device without ACS, a bridge and a device below it) hits WARN_ON(group->resetting_domain) and fails with -EBUSY. ' +
      'The nested-prepare fix (reset-nesting=depth-counter, 0d5fd7a9323c) counts one device\'s nesting only; the post-7.0 rework makes the fence per device.',
    reference: 'docs/kernel-facts.md §3 (resetting_domain: "group-wide fence", post-7.0 per-group_device rework), B8', source: 'upstream',
  },
  {
    id: 'reset-done-sets-pasids-of-all-members', kind: 'kernel-warn', signature: 'kernel-warn|iommu-core.pci_dev_reset_iommu_done|', contains: ['WARN_ON(__iommu_set_group_pasid'],
    reason: 'pci_dev_reset_iommu_done() re-sets every PASID of the group with __iommu_set_group_pasid(), i.e. on every member, although prepare only ' +
      'removed them from the device that reset; on a member that cannot take the PASID (no PASID capability, a PASID the unit refuses) the set fails and done WARNs.',
    reference: 'docs/kernel-facts.md §3.6 (pci_dev_reset_iommu_done, "as read: this targets all PASID-capable members of the group")', source: 'upstream',
  },
  {
    id: 'dma-during-reset-of-non-ats-device', kind: 'isolation-breach', signature: 'isolation-breach|dma-while-resetting|',
    when: (f, doc) => {
      const dev = dmaDevice(f);
      return dev !== null && doc.topology.pci.some((d) => d.id === dev && d.ats !== true);
    },
    reason: 'pci_dev_reset_iommu_prepare() skips a device without ATS (7.0.0), so its translation is not blocked during a reset; in the kernel such a device ' +
      'issues no DMA while its FLR runs (pcie_flr() waits for pending transactions first), but the model lets a device DMA at any time, and the isolation ' +
      'rule "DMA during a reset must be blocked" does not know about the ATS skip.',
    reference: 'docs/kernel-facts.md §3.6 (the skip rule); checkers/isolation/rules.ts dma-while-resetting', source: 'model',
  },
  {
    id: 'dma-from-disconnected-device', kind: 'isolation-breach', signature: 'isolation-breach|dma-while-disconnected|',
    reason: 'Once pciehp has marked a surprise-removed device disconnected, its link is down and it issues no DMA; the model lets driver code (a probe or ' +
      'work item that runs before the removal reaches the device) make the gone device DMA, and the isolation rule flags any translation for it.',
    reference: 'checkers/isolation/rules.ts dma-while-disconnected; drivers/pci/hotplug/pciehp_pci.c pciehp_unconfigure_device()', source: 'model',
  },
  {
    id: 'dma-from-disconnected-device', kind: 'isolation-breach', signature: 'isolation-breach|freed-domain|', contains: ['pci:pciehp_disable_slot'],
    when: (f, doc) => {
      const dev = dmaDevice(f);
      const slot = doc.topology.pci.find((d) => d.id === dev)?.slot;
      return slot !== undefined && doc.tasks.some((t) => t.ops.some((op) => op.op === 'pci.surprise_remove' && op.slot === slot));
    },
    reason: 'The same, seen through a stale device-TLB entry: the surprise removal unbound the driver and freed its domain (the ATC of a disconnected ' +
      'device is not invalidated, as in the kernel), then driver code the model still runs (a probe of the unbound, disconnected device) made the gone ' +
      'device DMA through the entry.',
    reference: 'hardware/profiles.ts skipsAtsInvalidationWhenDisconnected (B18); checkers/isolation/rules.ts freed-domain', source: 'model',
  },
  {
    id: 'transient-driver-in-user-group', kind: 'isolation-breach', signature: 'isolation-breach|kernel-driver-in-user-group|', contains: ['was blocked by domain'],
    reason: 'really_probe() sets dev->driver before dma_configure() refuses the probe (-EBUSY) in a group userspace owns; a DMA by the device in that ' +
      'window (here one the user programmed, blocked by the user\'s domain) makes the rule see a kernel driver in a user-owned group. Nothing was reached.',
    reference: 'drivers/base/dd.c really_probe(); checkers/isolation/rules.ts kernel-driver-in-user-group', source: 'model',
  },
  {
    id: 'hot-add-iommu-probe-race', kind: 'data-race', signature: 'data-race|device.iommu', contains: ['driver-core:device_add', 'pci:pci_rescan_bus'],
    reason: 'A device a rescan is adding is reached (a sysfs bind, a reset of its bridge) while BUS_NOTIFY_ADD_DEVICE runs iommu_probe_device() for it: ' +
      'the reader sees dev->iommu / dev->iommu_group being written. The device is on the bus (bus_add_device) before the notifier runs; the kernel\'s ' +
      'dma_configure() replays iommu_probe_device() under iommu_probe_device_lock for firmware-described (OF/IORT/VIOT) devices, the model for SMMUv3 ' +
      'devices only (docs/kernel-model.md "not modelled": pciehp hot-add). Whether DMAR/IVRS devices have the window is a question for the kernel.',
    reference: 'drivers/base/core.c device_add(); drivers/acpi/scan.c acpi_iommu_configure_id(); docs/kernel-facts.md §1.2 edge 6', source: 'model',
  },
  {
    // the read is iommu_group_get()'s dev->iommu_group, in dev_iommu_group() since the frames are per function
    id: 'vfio-open-by-device-name', kind: 'use-after-free', signature: 'use-after-free|device|Read|iommu-core.', contains: ['iommu_group_get', 'vfio_group_fops_open'],
    reason: 'A process opens /dev/vfio/$GROUP with the number it read from /sys/bus/pci/devices/<dev>/iommu_group: a string, no reference to the ' +
      'device. The model names the group by the device and looks it up with iommu_group_get(dev) at open time, which touches the device a concurrent ' +
      'removal may have freed.',
    reference: 'protocol/vfio.ts VfioPath "group"; drivers/vfio/group.c vfio_group_fops_open()', source: 'model',
  },
  {
    id: 'vfio-open-by-device-name', kind: 'data-race', signature: 'data-race|device.iommu_group|', contains: ['vfio:open'],
    reason: 'The same lookup racing the removal that clears dev->iommu_group (the kernel opens by group number, not through the device).',
    reference: 'protocol/vfio.ts VfioPath "group"', source: 'model',
  },
  {
    id: 'rmr-refusal-is-dev-warn', kind: 'kernel-warn', signature: 'kernel-warn|', contains: ['Firmware has requested this device have a 1:1 IOMMU mapping'],
    reason: 'The refusal to put a require_direct (RMRR/RMR) device on a blocking domain is a dev_warn() in __iommu_device_set_domain(), not a WARN: ' +
      'the kernel logs it and returns -EINVAL (why VFIO cannot own an RMRR device). The model emits it through k.warn, which the WARN checker reports.',
    reference: 'drivers/iommu/iommu.c __iommu_device_set_domain(); actors/iommu-core/attach.ts deviceSetDomain', source: 'model',
  },
  {
    id: 'late-iommu-probe', kind: 'kernel-warn', signature: 'kernel-warn|iommu-core.__iommu_probe_device|', contains: ['late IOMMU probe at driver bind'],
    reason: 'A driver is bound (or binding) when its device reaches __iommu_probe_device(): the OF/ACPI probe replay from really_probe()\'s dma_configure ' +
      '(of_iommu_configure when dev->iommu did not exist), a client that bound with dma-direct before its IOMMU registered, or an async / deferred probe ' +
      'racing bus_iommu_probe(). 7.0 prints this dev_WARN ("something fishy here!") in each case.',
    reference: 'drivers/iommu/iommu.c __iommu_probe_device() (bcb81ac6ae3c); LKML: "late IOMMU probe at driver bind" reports on R-Car (2025-03), LKFT (6.14-rc) and exynos (6.19)', source: 'upstream',
  },
  {
    id: 'unlocked-sbr-is-pci-warn', kind: 'kernel-warn', signature: 'kernel-warn|', contains: ['unlocked secondary bus reset via'],
    reason: 'pci_bridge_secondary_bus_reset() prints "unlocked secondary bus reset via: %pS" with pci_warn_once() when the bridge\'s cfg access is not ' +
      'blocked (pci_try_reset_function and pci_reset_function_locked do not lock the bridge): a log line the kernel really prints, not a WARN splat. ' +
      'The model emits it through k.warn, which the WARN checker reports.',
    reference: 'drivers/pci/pci.c pci_bridge_secondary_bus_reset() ("PCI: Revert the cfg_access_lock lockdep mechanism"); actors/pci/reset.ts', source: 'model',
  },
];

/** The known entry a finding of workload `doc` matches, or null: a new finding. */
export function matchKnown(f: Finding, doc: FuzzDocument | null, known: readonly KnownFinding[] = KNOWN): KnownFinding | null {
  for (const k of known) {
    if (f.kind !== k.kind || !f.signature.startsWith(k.signature)) continue;
    // the report prints kernel function names; the model's "actor:op" frames are in the tasks' stacks
    const inStacks = (s: string): boolean => f.tasks.some((t) => t.stack.some((fr) => fr.includes(s)));
    if (!(k.contains ?? []).every((s) => f.signature.includes(s) || f.report.includes(s) || inStacks(s))) continue;
    if (k.when !== undefined && (doc === null || !k.when(f, doc))) continue;
    return k;
  }
  return null;
}
