import type { Topology } from '../../protocol/topology.ts';
import { scenarioFromDocument } from '../format/document.ts';
import type { Scenario } from '../scenario.ts';
import { documentTopology } from '../seeds/machine.ts';
import { VFIO_PCI } from '../seeds/seed-000.ts';

/**
 * Bug B13 (docs/kernel-facts.md §6): "vfio: fix deadlock between group lock
 * and kvm lock" (2b48f52f2bff, v6.2; Fixes 51cdc8bc120e "kvm/vfio: Fix
 * potential deadlock on vfio group_lock").
 *
 * - A: VFIO_GROUP_GET_DEVICE_FD → vfio_df_group_open() holds
 *   group->group_lock (→ dev_set->lock) → ops->open_device; for an s390
 *   zPCI function vfio-pci's open registers the VM:
 *   vfio_pci_zdev_open_device() → kvm_s390_pci_register_kvm() takes
 *   kvm->lock. The last close unregisters it the same way.
 * - B: closing the KVM VFIO device: kvm_device_release() holds kvm->lock →
 *   kvm_vfio_release() → vfio_file_set_kvm(file, NULL) → (before the fix)
 *   group->group_lock.
 *
 * The fix (the 7.0 code, variant kvm-ref=kvm-ref-lock): group->kvm under a
 * new spinlock, kvm_ref_lock, and a VM reference taken at the first open
 * under dev_set->lock, so B never takes group_lock.
 *
 * QEMU here creates a VM and its KVM VFIO device, assigns a zPCI function
 * through the legacy group path, tells KVM about the group
 * (KVM_DEV_VFIO_FILE_ADD), opens the device, and then shuts down with every
 * fd closed by a thread of its own (the device fd's close — A — and the KVM
 * VFIO device's — B — run concurrently). Pre-fix: lockdep reports the
 * kvm->lock ↔ group_lock cycle (and a schedule can deadlock on it); fixed:
 * clean. (The unit kind does not matter to B13; the machine is the lab's
 * usual VT-d one.)
 */

const DEV = '0000:00:05.0';

const MACHINE: Topology = {
  units: [{ name: 'vtd0', kind: 'vtd' }],
  pci: [{ bdf: DEV, unit: 'vtd0', driver: 'vfio-pci', zpci: true }],
  drivers: [VFIO_PCI],
};

export const B13_DOCUMENT = {
  name: 'b13-kvm-vfio-group-lock',
  title: 'B13: closing the KVM VFIO device (kvm->lock → group_lock) while a zPCI device open/close holds group_lock → kvm->lock',
  topology: documentTopology(MACHINE),
  variants: { 'kvm-ref': ['group-lock', 'kvm-ref-lock'] },
  tasks: [],
  processes: [
    {
      name: 'qemu', ops: [
        { op: 'kvm.create_vm', as: 'vm' },
        { op: 'ioctl', fd: 'vm', cmd: 'KVM_CREATE_DEVICE', type: 'KVM_DEV_TYPE_VFIO', as: 'kvm-vfio' },
        { op: 'vfio.group.open', dev: DEV, as: 'group' },
        { op: 'vfio.container.open', as: 'container' },
        { op: 'ioctl', fd: 'group', cmd: 'VFIO_GROUP_SET_CONTAINER', container: 'container' },
        { op: 'ioctl', fd: 'container', cmd: 'VFIO_SET_IOMMU' },
        { op: 'ioctl', fd: 'kvm-vfio', cmd: 'KVM_SET_DEVICE_ATTR', attr: 'KVM_DEV_VFIO_FILE_ADD', file: 'group' },
        { op: 'ioctl', fd: 'group', cmd: 'VFIO_GROUP_GET_DEVICE_FD', dev: DEV, as: 'device' },
        { op: 'proc.close_all' },
      ],
    },
  ],
  expect: [
    { when: { 'kvm-ref': 'group-lock' }, includes: ['lock-order-inversion'] },
    { when: { 'kvm-ref': 'kvm-ref-lock' }, findings: [] },
  ],
};

export const b13KvmVfio: Scenario = scenarioFromDocument(B13_DOCUMENT, 'scenarios/upstream/b13-kvm-vfio.ts');
