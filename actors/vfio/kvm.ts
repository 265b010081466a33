import { errno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import type { KvmDeviceType, KvmVfioAttr } from '../../protocol/vfio.ts';
import {
  allocObj, asObj, atomic, devSetLock, dfKvmRefLock, initFields, kvLock, kvmLock, underDevSet, underGroupKvm, underKv, underKvm, vfioGroupKvmRefLock, vfioGroupLock,
} from './state.ts';
import type { Kvm, KvmVfio, VFile, VK, VfioDevice, VfioGroup } from './state.ts';
import { allocFile, fget, fput, getFile } from './files.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * KVM as VFIO meets it (virt/kvm/kvm_main.c, virt/kvm/vfio.c,
 * drivers/vfio/group.c and vfio_main.c; docs/kernel-facts.md §6 B13): a
 * `struct kvm` per VM a process creates (/dev/kvm → KVM_CREATE_VM), its
 * users_count, kvm->lock, and the KVM VFIO pseudo-device
 * (KVM_CREATE_DEVICE of KVM_DEV_TYPE_VFIO) whose KVM_DEV_VFIO_FILE_ADD /
 * _DEL and release hand the VM to VFIO files with vfio_file_set_kvm().
 * The vfio actor keeps them because it keeps the files (the VFS part of
 * the model); the functions carry the KVM names.
 *
 * The VFIO side (variant `kvm-ref`):
 * - 7.0 (2b48f52f2bff, bug B13's fix): group->kvm under the spinlock
 *   group->kvm_ref_lock; the first open of a device takes a KVM reference
 *   (vfio_device_get_kvm_safe, under dev_set->lock and kvm_ref_lock) that
 *   the last close drops (vfio_device_put_kvm).
 * - `group-lock` (51cdc8bc120e, the pre-fix form): vfio_file_set_kvm()
 *   takes group->group_lock, and the open reads group->kvm under
 *   group_lock into device->kvm without a reference. Closing the KVM VFIO
 *   device (kvm_device_release: kvm->lock → kvm_vfio_release →
 *   vfio_file_set_kvm → group_lock) then inverts against a driver whose
 *   open_device takes kvm->lock under group_lock (vfio-ap, s390 zPCI:
 *   vfio_pci_zdev_open_device → kvm_s390_pci_register_kvm).
 */

type Ret = 0 | Errno;

/** kvm_get_kvm(): refcount_inc(&kvm->users_count). */
export const kvmGetKvm = kfunc('kvm_get_kvm', { actor: 'vfio', source: 'virt/kvm/kvm_main.c: kvm_get_kvm' }, function kvmGetKvm(k: VK, kvm: Kvm): void {
  k.write(kvm, 'users_count', k.read(kvm, 'users_count', atomic()) + 1, atomic());
});

/** kvm_get_kvm_safe(): refcount_inc_not_zero(&kvm->users_count); false for a VM being destroyed. */
export const kvmGetKvmSafe = kfunc('kvm_get_kvm_safe', { actor: 'vfio', source: 'virt/kvm/kvm_main.c: kvm_get_kvm_safe' }, function kvmGetKvmSafe(k: VK, kvm: Kvm): boolean {
  const n = k.read(kvm, 'users_count', atomic());
  if (n === 0) return false;
  k.write(kvm, 'users_count', n + 1, atomic());
  return true;
});

/** kvm_put_kvm(): the last reference destroys the VM (kvm_destroy_vm: its devices are released already, each held a reference). */
export const kvmPutKvm = kfunc('kvm_put_kvm', { actor: 'vfio', source: 'virt/kvm/kvm_main.c: kvm_put_kvm' }, function kvmPutKvm(k: VK, id: string): void {
  const kvm = k.state.kvms[id];
  if (kvm === undefined) {
    k.use(asObj(id), 'kvm_put_kvm');
    return;
  }
  const n = k.read(kvm, 'users_count', atomic()) - 1;
  k.write(kvm, 'users_count', n, atomic());
  if (n < 0) k.warn(`kvm_put_kvm: users_count underflow on ${id}`);
  if (n === 0) kvmDestroyVm(k, kvm);
});

/** kvm_destroy_vm(): kvm_destroy_devices() (the KVM VFIO device has ->release, so it is gone by now), then the VM is freed. */
const kvmDestroyVm = kfunc('kvm_destroy_vm', { actor: 'vfio', source: 'virt/kvm/kvm_main.c: kvm_destroy_vm' }, function kvmDestroyVm(k: VK, kvm: Kvm): void {
  if (k.read(kvm, 'devices', atomic()).length > 0) k.warn(`kvm_destroy_vm: ${kvm.id} still has devices`);
  delete k.state.kvms[kvm.id];
  k.free(kvm.id);
});

/** /dev/kvm's KVM_CREATE_VM (kvm_dev_ioctl_create_vm): a new VM with one reference, the VM fd's. Replies the VM file id. */
export const kvmDevIoctlCreateVm = kfunc('kvm_dev_ioctl_create_vm', { actor: 'vfio', source: 'virt/kvm/kvm_main.c: kvm_dev_ioctl_create_vm' }, function kvmDevIoctlCreateVm(k: VK, proc: string): string {
  const id = allocObj(k, 'kvm', 'kvm');
  const kvm: Kvm = { id, users_count: 1, devices: [] };
  k.state.kvms[id] = kvm;
  initFields(k, kvm, ['users_count', 'devices']);
  return allocFile(k, 'kvm-vm', id, proc).id;
});

/** kvm_vm_release(): the VM fd's reference. */
export const kvmVmRelease = kfunc('kvm_vm_release', { actor: 'vfio', source: 'virt/kvm/kvm_main.c: kvm_vm_release' }, function kvmVmRelease(k: VK, f: VFile): void {
  kvmPutKvm(k, f.priv);
});

/**
 * KVM_CREATE_DEVICE (kvm_ioctl_create_device): only KVM_DEV_TYPE_VFIO is
 * modelled (another type: -ENODEV, no ops registered); under kvm->lock
 * kvm_vfio_create() refuses a second VFIO device of the VM (-EBUSY) and the
 * device goes on kvm->devices; the device holds a VM reference
 * (kvm_get_kvm) and gets an anon-inode fd. Replies the device file id.
 */
export const kvmIoctlCreateDevice = kfunc('kvm_ioctl_create_device', { actor: 'vfio', source: 'virt/kvm/kvm_main.c: kvm_ioctl_create_device' }, async function kvmIoctlCreateDevice(k: VK, vm: VFile, type: KvmDeviceType): Promise<string | Errno> {
  const kvm = k.state.kvms[vm.priv];
  if (kvm === undefined) return errno('ENODEV');
  if (type !== 'KVM_DEV_TYPE_VFIO') return errno('ENODEV');
  await k.lock(kvmLock(kvm.id));
  try {
    // kvm_vfio_create(): "Only one VFIO "device" per VM"
    const devices = k.read(kvm, 'devices', underKvm(kvm.id));
    if (devices.length > 0) return errno('EBUSY');
    const id = allocObj(k, 'kvm_device', 'kvm_vfio');
    const kv: KvmVfio = { id, kvm: kvm.id, files: [] };
    k.state.kvmVfios[id] = kv;
    initFields(k, kv, ['kvm', 'files']);
    k.write(kvm, 'devices', [...devices, id], underKvm(kvm.id));
    kvmGetKvm(k, kvm);
    return allocFile(k, 'kvm-device', id, vm.proc).id;
  } finally {
    await k.unlock(kvmLock(kvm.id));
  }
});

/**
 * kvm_device_release(): kvm->lock; off kvm->devices; ->release
 * (kvm_vfio_release) with kvm->lock held ("kvm->lock is held", struct
 * kvm_device_ops); unlock; kvm_put_kvm().
 */
export const kvmDeviceRelease = kfunc('kvm_device_release', { actor: 'vfio', source: 'virt/kvm/kvm_main.c: kvm_device_release' }, async function kvmDeviceRelease(k: VK, f: VFile): Promise<void> {
  const kv = k.state.kvmVfios[f.priv];
  if (kv === undefined) return;
  const kvm = k.state.kvms[kv.kvm];
  if (kvm === undefined) {
    k.use(asObj(kv.kvm), 'kvm_device_release');
    return;
  }
  await k.lock(kvmLock(kvm.id));
  k.write(kvm, 'devices', k.read(kvm, 'devices', underKvm(kvm.id)).filter((d) => d !== kv.id), underKvm(kvm.id));
  await kvmVfioRelease(k, kv);
  await k.unlock(kvmLock(kvm.id));
  kvmPutKvm(k, kvm.id);
});

/**
 * kvm_vfio_release(): every file of kv->file_list gets the VM cleared
 * (kvm_vfio_file_set_kvm(file, NULL)) and its reference dropped; then the
 * device is freed. kv->lock is not taken (nobody else can reach the device).
 */
const kvmVfioRelease = kfunc('kvm_vfio_release', { actor: 'vfio', source: 'virt/kvm/vfio.c: kvm_vfio_release' }, async function kvmVfioRelease(k: VK, kv: KvmVfio): Promise<void> {
  for (const file of k.read(kv, 'files', atomic())) {
    await vfioFileSetKvm(k, file, null);
    fput(k, file);
  }
  k.write(kv, 'files', [], atomic());
  delete k.state.kvmVfios[kv.id];
  k.free(kv.id);
});

/** kvm_vfio_file_is_valid() → vfio_file_is_valid(): a VFIO group or device file. */
const vfioFileIsValid = (f: VFile): boolean => f.kind === 'vfio-group' || f.kind === 'vfio-device';

/**
 * KVM_SET_DEVICE_ATTR on the KVM VFIO device, group KVM_DEV_VFIO_FILE
 * (kvm_vfio_set_file): FILE_ADD → kvm_vfio_file_add(): fget (-EBADF), not a
 * VFIO file -EINVAL; kv->lock: already added -EEXIST; a reference on the
 * file (get_file) on kv->file_list, then kvm_vfio_file_set_kvm(file, kvm)
 * under kv->lock. FILE_DEL → kvm_vfio_file_del(): kv->lock; not on the list
 * -ENOENT; off the list, VM cleared, reference dropped.
 */
export const kvmVfioSetFile = kfunc('kvm_vfio_set_file', { actor: 'vfio', source: 'virt/kvm/vfio.c: kvm_vfio_set_file' }, async function kvmVfioSetFile(k: VK, dev: VFile, attr: KvmVfioAttr, vfio: string | null): Promise<Ret> {
  const kv = k.state.kvmVfios[dev.priv];
  if (kv === undefined) return errno('ENXIO');
  const f = fget(k, vfio);
  if (f === null) return errno('EBADF');
  try {
    return attr === 'KVM_DEV_VFIO_FILE_ADD' ? await kvmVfioFileAdd(k, kv, f) : await kvmVfioFileDel(k, kv, f);
  } finally {
    fput(k, f.id);
  }
});

const kvmVfioFileAdd = kfunc('kvm_vfio_file_add', { actor: 'vfio', source: 'virt/kvm/vfio.c: kvm_vfio_file_add' }, async function kvmVfioFileAdd(k: VK, kv: KvmVfio, f: VFile): Promise<Ret> {
  if (!vfioFileIsValid(f)) return errno('EINVAL');
  await k.lock(kvLock(kv.id));
  try {
    const files = k.read(kv, 'files', underKv(kv.id));
    if (files.includes(f.id)) return errno('EEXIST');
    getFile(k, f.id);
    k.write(kv, 'files', [...files, f.id], underKv(kv.id));
    await vfioFileSetKvm(k, f.id, kv.kvm);
    return 0;
  } finally {
    await k.unlock(kvLock(kv.id));
  }
});

const kvmVfioFileDel = kfunc('kvm_vfio_file_del', { actor: 'vfio', source: 'virt/kvm/vfio.c: kvm_vfio_file_del' }, async function kvmVfioFileDel(k: VK, kv: KvmVfio, f: VFile): Promise<Ret> {
  await k.lock(kvLock(kv.id));
  try {
    const files = k.read(kv, 'files', underKv(kv.id));
    if (!files.includes(f.id)) return errno('ENOENT');
    k.write(kv, 'files', files.filter((x) => x !== f.id), underKv(kv.id));
    await vfioFileSetKvm(k, f.id, null);
    fput(k, f.id);
    return 0;
  } finally {
    await k.unlock(kvLock(kv.id));
  }
});

/**
 * vfio_file_set_kvm() (drivers/vfio/vfio_main.c), through the symbol KVM
 * gets with symbol_get (kvm_vfio_file_set_kvm): a group file →
 * vfio_group_set_kvm(); a device file → vfio_device_file_set_kvm().
 */
export const vfioFileSetKvm = kfunc('vfio_file_set_kvm', { actor: 'vfio', source: 'drivers/vfio/vfio_main.c: vfio_file_set_kvm' }, async function vfioFileSetKvm(k: VK, file: string, kvm: string | null): Promise<void> {
  const f = k.state.files[file];
  if (f === undefined) {
    k.use(asObj(file), 'vfio_file_set_kvm');
    return;
  }
  if (f.kind === 'vfio-group') {
    const grp = k.state.groups[f.priv];
    if (grp !== undefined) await vfioGroupSetKvm(k, grp, kvm);
  } else if (f.kind === 'vfio-device') {
    await vfioDeviceFileSetKvm(k, f, kvm);
  }
});

/**
 * vfio_group_set_kvm(): group->kvm under group->kvm_ref_lock (7.0); under
 * group->group_lock in the pre-fix form (variant kvm-ref=group-lock), the
 * lock the KVM release then takes inside kvm->lock (bug B13's side B).
 */
export const vfioGroupSetKvm = kfunc('vfio_group_set_kvm', { actor: 'vfio', source: 'drivers/vfio/group.c: vfio_group_set_kvm' }, async function vfioGroupSetKvm(k: VK, grp: VfioGroup, kvm: string | null): Promise<void> {
  const lock = k.state.variants['kvm-ref'] === 'group-lock' ? vfioGroupLock(grp.id) : vfioGroupKvmRefLock(grp.id);
  await k.lock(lock);
  k.write(grp, 'kvm', kvm, underGroupKvm(k, grp.id));
  await k.unlock(lock);
});

/** vfio_device_file_set_kvm() (drivers/vfio/device_cdev.c): df->kvm under df->kvm_ref_lock. */
const vfioDeviceFileSetKvm = kfunc('vfio_device_file_set_kvm', { actor: 'vfio', source: 'drivers/vfio/device_cdev.c: vfio_device_file_set_kvm' }, async function vfioDeviceFileSetKvm(k: VK, f: VFile, kvm: string | null): Promise<void> {
  const df = k.state.dfs[f.priv];
  if (df === undefined) return;
  await k.lock(dfKvmRefLock(df.id));
  k.write(df, 'kvm', kvm, { guard: dfKvmRefLock(df.id) });
  await k.unlock(dfKvmRefLock(df.id));
});

/**
 * vfio_device_get_kvm_safe(), under dev_set->lock (lockdep_assert_held) and
 * the caller's kvm_ref_lock: a reference on the VM (kvm_get_kvm_safe; none
 * for a VM being destroyed), then device->kvm.
 */
export const vfioDeviceGetKvmSafe = kfunc('vfio_device_get_kvm_safe', { actor: 'vfio', source: 'drivers/vfio/vfio_main.c: vfio_device_get_kvm_safe' }, async function vfioDeviceGetKvmSafe(k: VK, vdev: VfioDevice, kvm: string | null): Promise<void> {
  // lockdep_assert_held(&device->dev_set->lock) comes first in the kernel; the model asserts after the NULL test,
  // so a VM-less open (every open but a KVM user's) costs no extra step
  if (kvm === null) return;
  await k.assertHeld(devSetLock(vdev.dev_set));
  const vm = k.state.kvms[kvm];
  if (vm === undefined) {
    k.use(asObj(kvm), 'vfio_device_get_kvm_safe');
    return;
  }
  if (!kvmGetKvmSafe(k, vm)) return;
  k.write(vdev, 'kvm', kvm, underDevSet(vdev.dev_set));
});

/** vfio_device_put_kvm(), under dev_set->lock: drops the first open's VM reference and clears device->kvm. */
export const vfioDevicePutKvm = kfunc('vfio_device_put_kvm', { actor: 'vfio', source: 'drivers/vfio/vfio_main.c: vfio_device_put_kvm' }, async function vfioDevicePutKvm(k: VK, vdev: VfioDevice): Promise<void> {
  const kvm = k.read(vdev, 'kvm', underDevSet(vdev.dev_set));
  if (kvm === null) return;
  await k.assertHeld(devSetLock(vdev.dev_set));
  k.write(vdev, 'kvm', null, underDevSet(vdev.dev_set));
  kvmPutKvm(k, kvm);
});

/**
 * The first open's VM (vfio_df_group_open, "Before the first device open,
 * get the KVM pointer currently associated with the group"): 7.0 takes
 * kvm_ref_lock and a reference; the pre-fix form copies group->kvm under
 * the group_lock the caller holds, without a reference.
 */
export const vfioDfGroupGetKvm = kfunc('vfio_df_group_get_kvm', { actor: 'vfio', source: 'drivers/vfio/group.c: vfio_df_group_open' }, async function vfioDfGroupGetKvm(k: VK, grp: VfioGroup, vdev: VfioDevice): Promise<void> {
  if (k.state.variants['kvm-ref'] === 'group-lock') {
    k.write(vdev, 'kvm', k.read(grp, 'kvm', underGroupKvm(k, grp.id)), underDevSet(vdev.dev_set));
    return;
  }
  await k.lock(vfioGroupKvmRefLock(grp.id));
  const kvm = k.read(grp, 'kvm', underGroupKvm(k, grp.id));
  await vfioDeviceGetKvmSafe(k, vdev, kvm);
  await k.unlock(vfioGroupKvmRefLock(grp.id));
});

/** The last close's VM: 7.0 drops the reference (vfio_device_put_kvm); the pre-fix form only forgets the pointer. */
export const vfioDfGroupPutKvm = kfunc('vfio_df_group_put_kvm', { actor: 'vfio', source: 'drivers/vfio/group.c: vfio_df_group_close' }, async function vfioDfGroupPutKvm(k: VK, vdev: VfioDevice): Promise<void> {
  if (k.state.variants['kvm-ref'] === 'group-lock') {
    k.write(vdev, 'kvm', null, underDevSet(vdev.dev_set));
    return;
  }
  await vfioDevicePutKvm(k, vdev);
});

/**
 * s390 zPCI (drivers/vfio/pci/vfio_pci_zdev.c, arch/s390/kvm/pci.c):
 * vfio_pci_zdev_open_device() from open_device registers the device's VM
 * with the function when it has one: kvm_s390_pci_register_kvm() takes
 * kvm->lock (and a VM reference of its own). Under dev_set->lock, and in
 * the group path under group_lock: bug B13's side A.
 */
export const vfioPciZdevOpenDevice = kfunc('vfio_pci_zdev_open_device', { actor: 'vfio', source: 'drivers/vfio/pci/vfio_pci_zdev.c: vfio_pci_zdev_open_device' }, async function vfioPciZdevOpenDevice(k: VK, vdev: VfioDevice): Promise<void> {
  const kvm = k.read(vdev, 'kvm', underDevSet(vdev.dev_set));
  if (kvm === null) return;
  const vm = k.state.kvms[kvm];
  if (vm === undefined) {
    k.use(asObj(kvm), 'kvm_s390_pci_register_kvm');
    return;
  }
  await k.lock(kvmLock(kvm));
  kvmGetKvm(k, vm);
  await k.unlock(kvmLock(kvm));
});

/** vfio_pci_zdev_close_device() → kvm_s390_pci_unregister_kvm(): kvm->lock, then the registration's VM reference goes. */
export const vfioPciZdevCloseDevice = kfunc('vfio_pci_zdev_close_device', { actor: 'vfio', source: 'drivers/vfio/pci/vfio_pci_zdev.c: vfio_pci_zdev_close_device' }, async function vfioPciZdevCloseDevice(k: VK, vdev: VfioDevice): Promise<void> {
  const kvm = k.read(vdev, 'kvm', underDevSet(vdev.dev_set));
  if (kvm === null) return;
  if (k.state.kvms[kvm] === undefined) {
    k.use(asObj(kvm), 'kvm_s390_pci_unregister_kvm');
    return;
  }
  await k.lock(kvmLock(kvm));
  await k.unlock(kvmLock(kvm));
  kvmPutKvm(k, kvm);
});
