/**
 * Bug B13 as a patch (docs/kernel-facts.md §6 B13; "vfio: fix deadlock
 * between group lock and kvm lock", 2b48f52f2bff): before the fix,
 * vfio_file_set_kvm() set group->kvm under group->group_lock. The KVM VFIO
 * device's release calls it with kvm->lock held (kvm_device_release →
 * kvm_vfio_release), while opening an s390 zPCI device through its group
 * holds group_lock and takes kvm->lock (vfio_df_group_open → open_device →
 * vfio_pci_zdev_open_device → kvm_s390_pci_register_kvm): kvm->lock and
 * group_lock in both orders.
 *
 * The patch replaces vfio_group_set_kvm() only (the model's 7.0 takes
 * group->kvm_ref_lock there); the open path, its KVM reference and the KVM
 * side stay upstream. The built-in b13-kvm-vfio-group-lock scenario has the
 * whole pre-fix form as the variant kvm-ref=group-lock.
 *
 *   iommu-lab compare scenarios/examples/patch-kvm-group-lock.ts
 */
import { vfio } from 'iommu-lab/patch';
import type { Patch } from 'iommu-lab/patch';

const DEV = '0000:00:05.0';

export default {
  name: 'example-patch-kvm-group-lock',
  title: 'B13: vfio_file_set_kvm() under group_lock, called from the KVM VFIO release under kvm->lock',
  topology: {
    units: [{ name: 'vtd0', kind: 'vtd' }],
    pci: [{ id: DEV, unit: 'vtd0', driver: 'vfio-pci', zpci: true }],
    drivers: [{
      name: 'vfio-pci', bus: 'pci', driver_managed_dma: true,
      probe: [{ do: 'vfio_register_group_dev' }], remove: [{ do: 'vfio_unregister_group_dev' }],
    }],
  },
  variants: { 'set-kvm': ['upstream', 'group-lock'] },
  tasks: [],
  processes: [
    {
      name: 'qemu',
      ops: [
        { op: 'kvm.create_vm', as: 'vm' },
        { op: 'ioctl', fd: 'vm', cmd: 'KVM_CREATE_DEVICE', as: 'kvm-vfio' },
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
    { when: { 'set-kvm': 'upstream' }, findings: [] },
    { when: { 'set-kvm': 'group-lock' }, includes: ['lock-order-inversion'] },
  ],
};

export const patches: Patch[] = [
  {
    name: 'set-kvm-under-group-lock',
    actor: 'vfio',
    when: { 'set-kvm': 'group-lock' },
    functions: {
      /** vfio_group_set_kvm() as 51cdc8bc120e left it: group->kvm under group->group_lock. */
      async vfio_group_set_kvm(k: vfio.VK, grp: vfio.VfioGroup, kvm: string | null): Promise<void> {
        await k.lock(vfio.vfioGroupLock(grp.id));
        k.write(grp, 'kvm', kvm, vfio.underGroupLock(grp.id));
        await k.unlock(vfio.vfioGroupLock(grp.id));
      },
    },
  },
];
