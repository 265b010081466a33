import { errno, isErrno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { specOf, upstreamBridge } from '../pci/topology.ts';
import {
  LOCKLESS, allocObj, atomic, chrdevsLock, initFields, devSetLock, underChrdevs, underDevSet, underGroupDeviceLock, underSetXa, vfioDeviceComp,
  vfioDeviceSetXaLock, vfioGroupDeviceLock,
} from './state.ts';
import type { DevSet, VK, VfioDevice, VfioGroup } from './state.ts';
import { vfioDeviceRemoveGroup, vfioGroupFindOrAlloc } from './group.ts';
import { putRegistration } from './device.ts';
import { cdevNode } from './cdev.ts';
import { vfioPciCoreRequest } from './pci-core.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * Registration (drivers/vfio/vfio_main.c, pci/vfio_pci_core.c;
 * docs/kernel-facts.md §4.0 and §4.4), called from vfio-pci's probe and
 * remove with the device's device_lock held:
 * - register: the device set, the vfio_group (device_lock →
 *   vfio.group_lock → vfio_group->device_lock, §1.2 edge 13), the cdev,
 *   refcount = 1, onto group->device_list;
 * - unregister: off group->device_list and the cdev (no new opens), drop
 *   the initial reference and, while fds remain, signal the user's request
 *   eventfd and wait for device->comp — with device_lock held (§1.2 edge
 *   14, §1.3; bug B10: whatever the closer needs must not be held by the
 *   remover) — then vfio_device_remove_group() and the device set.
 */

type Ret = 0 | Errno;

/**
 * vfio_pci_core_register_device(): a device on a root bus is a set of its
 * own; else the devices of its slot (pci_probe_reset_slot) or of its bus
 * share a set, as they must be reset together.
 */
function devSetKey(k: VK, dev: string): string {
  const slot = specOf(k.state.pt, dev)?.slot;
  const bridge = upstreamBridge(k.state.pt, dev);
  if (bridge === null) return dev;
  return slot !== undefined ? `slot:${slot}` : `bus:${bridge}`;
}

/**
 * vfio_assign_device_set(), in two halves: the set is found or created
 * (with device_count++) under the xarray's lock, then the device joins its
 * list under dev_set->lock.
 */
const vfioGetDeviceSet = kfunc('vfio_assign_device_set', { actor: 'vfio', source: 'drivers/vfio/vfio_main.c: vfio_assign_device_set' }, async function vfioGetDeviceSet(k: VK, key: string): Promise<DevSet> {
  const xa = k.state.setXa;
  await k.lock(vfioDeviceSetXaLock());
  const id = k.read(xa, 'sets', underSetXa())[key];
  let set = id === undefined ? undefined : k.state.devSets[id];
  if (set === undefined) {
    const sid = allocObj(k, 'vfio_device_set', `dev_set:${key}`, false);
    set = { id: sid, key, device_list: [], device_count: 0 };
    k.state.devSets[sid] = set;
    k.tableSet(xa, 'sets', key, sid, underSetXa());
  }
  k.write(set, 'device_count', k.read(set, 'device_count', underSetXa()) + 1, underSetXa());
  await k.unlock(vfioDeviceSetXaLock());
  return set;
});

const vfioJoinDeviceSet = kfunc('vfio_assign_device_set_join', { actor: 'vfio', source: 'drivers/vfio/vfio_main.c: vfio_assign_device_set_join' }, async function vfioJoinDeviceSet(k: VK, set: DevSet, vdev: VfioDevice): Promise<void> {
  await k.lock(devSetLock(set.id));
  k.listAdd(set, 'device_list', vdev.id, underDevSet(set.id));
  await k.unlock(devSetLock(set.id));
});

/** vfio_release_device_set(): off the list, and the last device frees the set. */
const vfioReleaseDeviceSet = kfunc('vfio_release_device_set', { actor: 'vfio', source: 'drivers/vfio/vfio_main.c: vfio_release_device_set' }, async function vfioReleaseDeviceSet(k: VK, vdev: VfioDevice): Promise<void> {
  const set = k.state.devSets[vdev.dev_set];
  if (set === undefined) return;
  await k.lock(devSetLock(set.id));
  k.listDel(set, 'device_list', vdev.id, underDevSet(set.id));
  await k.unlock(devSetLock(set.id));
  await k.lock(vfioDeviceSetXaLock());
  const n = k.read(set, 'device_count', underSetXa()) - 1;
  k.write(set, 'device_count', n, underSetXa());
  if (n === 0) {
    k.tableDel(k.state.setXa, 'sets', set.key, underSetXa());
    delete k.state.devSets[set.id];
    k.free(set.id);
  }
  await k.unlock(vfioDeviceSetXaLock());
});

/** vfio_register_group_dev(dev): 0, or -EINVAL for a device without an iommu group (no noiommu mode). */
export const vfioRegisterGroupDev = kfunc('vfio_register_group_dev', { actor: 'vfio', source: 'drivers/vfio/vfio_main.c: vfio_register_group_dev' }, async function vfioRegisterGroupDev(k: VK, dev: string): Promise<Ret> {
  if (k.state.drvdata[dev] !== undefined) {
    k.warn(`vfio_register_group_dev: ${dev} is registered already`);
    return errno('EBUSY');
  }
  const grp = await vfioGroupFindOrAlloc(k, dev);
  if (isErrno(grp)) return grp;
  const set = await vfioGetDeviceSet(k, devSetKey(k, dev));
  const id = allocObj(k, 'vfio_device', `vfio_device:${dev}`);
  const vdev: VfioDevice = {
    id, dev, group: grp.id, dev_set: set.id, refcount: 0, open_count: 0, idev: null, iommufd_attached: false, pasids: [],
    cdev_opened: false, reset_works: false, needs_reset: false, req_trigger: null, unregistered: false, kvm: null,
  };
  k.state.devices[id] = vdev;
  initFields(k, vdev, ['group', 'dev_set', 'open_count', 'idev']);
  await vfioJoinDeviceSet(k, set, vdev);
  // vfio_device_add(): the cdev node
  await k.lock(chrdevsLock());
  k.tableSet(k.state.cdevs, 'nodes', cdevNode(dev), id, underChrdevs());
  await k.unlock(chrdevsLock());
  // "Refcounting can't start until the driver calls register"
  k.write(vdev, 'refcount', 1, atomic());
  // vfio_device_group_register()
  await k.lock(vfioGroupDeviceLock(grp.id));
  k.listAdd(grp, 'device_list', id, underGroupDeviceLock(grp.id));
  await k.unlock(vfioGroupDeviceLock(grp.id));
  k.state.drvdata[dev] = id;
  return 0;
});

/** How many timed waits vfio_unregister_group_dev() makes (each after a request) before it waits without a timeout. */
export const VFIO_REQUEST_RESENDS = 3;

/** vfio_unregister_group_dev(dev), from vfio-pci's remove with device_lock held. */
export const vfioUnregisterGroupDev = kfunc('vfio_unregister_group_dev', { actor: 'vfio', source: 'drivers/vfio/vfio_main.c: vfio_unregister_group_dev' }, async function vfioUnregisterGroupDev(k: VK, dev: string): Promise<Ret> {
  const id = k.state.drvdata[dev];
  const vdev = id === undefined ? undefined : k.state.devices[id];
  if (vdev === undefined) return 0;
  const grp = k.state.groups[vdev.group] as VfioGroup;
  // vfio_device_group_unregister(): no new VFIO_GROUP_GET_DEVICE_FD
  await k.lock(vfioGroupDeviceLock(grp.id));
  k.listDel(grp, 'device_list', vdev.id, underGroupDeviceLock(grp.id));
  await k.unlock(vfioGroupDeviceLock(grp.id));
  // vfio_device_del(): no new cdev opens
  await k.lock(chrdevsLock());
  k.tableDel(k.state.cdevs, 'nodes', cdevNode(dev), underChrdevs());
  await k.unlock(chrdevsLock());

  // vfio_device_put_registration(); try_wait_for_completion(); then
  // drivers/vfio/vfio_main.c: "while (rc <= 0) { ops->request(device, i++);
  // wait_for_completion_interruptible_timeout(&device->comp, HZ * 10); }":
  // the request is re-sent on every 10 s timeout, so a user that arms its
  // request eventfd late is still asked. The model re-sends it
  // VFIO_REQUEST_RESENDS times (time is steps), then waits without a timeout.
  if ((await putRegistration(k, vdev)) > 0) {
    let done = false;
    for (let i = 0; i < VFIO_REQUEST_RESENDS && !done; i++) {
      await vfioPciCoreRequest(k, vdev);
      done = await k.wait_for_completion_timeout(vfioDeviceComp(vdev.id));
    }
    if (!done) {
      await vfioPciCoreRequest(k, vdev);
      await k.wait_for_completion(vfioDeviceComp(vdev.id));
    }
  }

  await vfioDeviceRemoveGroup(k, grp);
  k.write(vdev, 'unregistered', true, LOCKLESS);
  // vfio_pci_core_unregister_device() returns; vfio_put_device() → vfio_device_release() → vfio_release_device_set()
  await vfioReleaseDeviceSet(k, vdev);
  delete k.state.drvdata[dev];
  delete k.state.devices[vdev.id];
  k.free(vdev.id);
  return 0;
});
