import { errno, isErrno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { actorId } from '../../protocol/ids.ts';
import { PCI } from '../../protocol/kernel.ts';
import { deviceLock, nested, pciCfgAccessLock } from '../../protocol/lock-classes.ts';
import { unitActor } from '../../protocol/topology.ts';
import { processActor } from '../../protocol/vfio.ts';
import { specOf, subtree, slotBusDevices, upstreamBridge } from '../pci/topology.ts';
import { LOCKLESS, devSetLock, igateLock, memoryLock, underDevSet, underIgate, unitOf } from './state.ts';
import type { DeviceFile, VFile, VK, VfioDevice } from './state.ts';
import { fget, fput } from './files.ts';
import { vfioPciZdevCloseDevice, vfioPciZdevOpenDevice } from './kvm.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * vfio-pci's device ops (drivers/vfio/pci/vfio_pci_core.c) as far as the
 * locking story goes (docs/kernel-facts.md §4.3): open_device resets with
 * pci_try_reset_function(); close_device resets with trylocks and skips on
 * contention (bug B10's fix: the remover may hold device_lock while it waits
 * for this close); the request callback signals the user's eventfd;
 * VFIO_DEVICE_RESET (memory_lock → pci_try_reset_function, no
 * dev_set->lock); VFIO_DEVICE_PCI_HOT_RESET (dev_set->lock → memory_lock
 * trylocks → pci_reset_bus); vfio_pci_dev_set_try_reset(), the bus reset
 * after the last close of a device set.
 */

type Ret = 0 | Errno;

/**
 * vfio_pci_core_open_device() → vfio_pci_core_enable(): "If reset fails
 * because of the device lock, fail this path entirely" (-EAGAIN); any other
 * outcome only decides reset_works. Under dev_set->lock (§1.2 edge 16:
 * device_lock only by trylock).
 */
export const vfioPciCoreOpenDevice = kfunc('vfio_pci_core_open_device', { actor: 'vfio', source: 'drivers/vfio/pci/vfio_pci_core.c: vfio_pci_core_open_device' }, async function vfioPciCoreOpenDevice(k: VK, vdev: VfioDevice): Promise<Ret> {
  const ret = await k.call<Ret>(PCI, 'pci_try_reset_function', { dev: vdev.dev });
  if (isErrno(ret) && ret.errno === 'EAGAIN') return ret;
  const sl = underDevSet(vdev.dev_set);
  k.write(vdev, 'reset_works', !isErrno(ret), sl);
  k.write(vdev, 'needs_reset', false, sl);
  // vfio_pci_core_finish_enable() → vfio_pci_zdev_open_device(): an s390 zPCI function registers the VM (kvm->lock)
  if (specOf(k.state.pt, vdev.dev)?.zpci === true) await vfioPciZdevOpenDevice(k, vdev);
  return 0;
});

/** pci_dev_trylock(): device_lock then pci_cfg_access_lock, both or neither. */
const pciDevTrylock = kfunc('pci_dev_trylock', { actor: 'vfio', source: 'drivers/pci/pci.c: pci_dev_trylock' }, async function pciDevTrylock(k: VK, dev: string, sub: number): Promise<boolean> {
  if (await k.trylock(deviceLock(dev, sub))) {
    if (await k.trylock(nested(pciCfgAccessLock(dev), sub))) return true;
    await k.unlock(deviceLock(dev, sub));
  }
  return false;
});

const pciDevUnlock = kfunc('pci_dev_unlock', { actor: 'vfio', source: 'drivers/pci/pci.c: pci_dev_unlock' }, async function pciDevUnlock(k: VK, dev: string, sub: number): Promise<void> {
  await k.unlock(nested(pciCfgAccessLock(dev), sub));
  await k.unlock(deviceLock(dev, sub));
});

/**
 * vfio_pci_core_close_device(): vfio_pci_core_disable() — needs_reset; if
 * the reset works, pci_dev_trylock() of the upstream bridge then of the
 * device and __pci_reset_function_locked(); contention skips the reset
 * (needs_reset stays) — then the request/error eventfds are dropped under
 * igate. Under dev_set->lock.
 */
export const vfioPciCoreCloseDevice = kfunc('vfio_pci_core_close_device', { actor: 'vfio', source: 'drivers/vfio/pci/vfio_pci_core.c: vfio_pci_core_close_device' }, async function vfioPciCoreCloseDevice(k: VK, vdev: VfioDevice): Promise<void> {
  const sl = underDevSet(vdev.dev_set);
  await k.assertHeld(devSetLock(vdev.dev_set));
  k.write(vdev, 'needs_reset', true, sl);
  if (k.read(vdev, 'reset_works', sl)) {
    const bridge = upstreamBridge(k.state.pt, vdev.dev);
    if (bridge === null || (await pciDevTrylock(k, bridge, 0))) {
      const sub = bridge === null ? 0 : 1;
      if (await pciDevTrylock(k, vdev.dev, sub)) {
        const r = await k.call<Ret>(PCI, 'pci_reset_function_locked', { dev: vdev.dev });
        if (!isErrno(r)) k.write(vdev, 'needs_reset', false, sl);
        await pciDevUnlock(k, vdev.dev, sub);
      }
      if (bridge !== null) await pciDevUnlock(k, bridge, 0);
    }
  }
  // vfio_pci_core_disable()'s end: pci_disable_device(), then vfio_pci_dev_set_try_reset()
  await vfioPciDevSetTryReset(k, vdev);
  await k.lock(igateLock(vdev.id));
  k.write(vdev, 'req_trigger', null, underIgate(vdev.id));
  await k.unlock(igateLock(vdev.id));
  // vfio_pci_core_close_device() → vfio_pci_zdev_close_device(): the zPCI function unregisters the VM (kvm->lock)
  if (specOf(k.state.pt, vdev.dev)?.zpci === true) await vfioPciZdevCloseDevice(k, vdev);
});

/**
 * vfio_pci_dev_set_try_reset() (drivers/vfio/pci/vfio_pci_core.c), from
 * the close of a device with dev_set->lock held: when no other device of
 * the set is open (vfio_device_set_open_count() ≤ 1: the closing one still
 * counts) and some device of the set needs a reset
 * (vfio_pci_dev_set_needs_reset), and every device a slot or bus reset of
 * it would touch is in the set (vfio_pci_find_reset_target →
 * vfio_pci_dev_set_resettable), pci_reset_bus() of the closing device's
 * bus or slot (device_locks by trylock: -EAGAIN on contention, §1.2 edge
 * 16); on success no device of the set needs a reset any more.
 */
export const vfioPciDevSetTryReset = kfunc('vfio_pci_dev_set_try_reset', { actor: 'vfio', source: 'drivers/vfio/pci/vfio_pci_core.c: vfio_pci_dev_set_try_reset' }, async function vfioPciDevSetTryReset(k: VK, vdev: VfioDevice): Promise<void> {
  const set = k.state.devSets[vdev.dev_set];
  if (set === undefined) return;
  const sl = underDevSet(set.id);
  const members = k.read(set, 'device_list', sl).map((id) => k.state.devices[id]).filter((v): v is VfioDevice => v !== undefined);
  // vfio_pci_dev_set_needs_reset(): "No other VFIO device in the set can be open."
  if (members.reduce((n, m) => n + k.read(m, 'open_count', sl), 0) > 1) return;
  if (!members.some((m) => k.read(m, 'needs_reset', sl))) return;
  // vfio_pci_find_reset_target(): a slot or bus reset, and every device it touches in the set
  const scope = resetScope(k, vdev.dev);
  if (scope === null) return;
  const inSet = new Set(members.map((m) => m.dev));
  if (!scope.every((d) => inSet.has(d))) return;
  const r = await k.call<Ret>(PCI, 'pci_reset_bus', { dev: vdev.dev });
  if (isErrno(r)) return;
  for (const m of members) k.write(m, 'needs_reset', false, sl);
});

/**
 * vfio_pci_core_request(), from vfio_unregister_group_dev() with the
 * remover's locks held (device_lock; pci_rescan_remove_lock on hot-remove):
 * igate; the user's request eventfd is signalled (a task of its own in the
 * process), or, without one, the kernel only logs "No device request channel
 * registered, blocked until released by user".
 */
export const vfioPciCoreRequest = kfunc('vfio_pci_core_request', { actor: 'vfio', source: 'drivers/vfio/pci/vfio_pci_core.c: vfio_pci_core_request' }, async function vfioPciCoreRequest(k: VK, vdev: VfioDevice): Promise<void> {
  await k.lock(igateLock(vdev.id));
  const trig = k.read(vdev, 'req_trigger', underIgate(vdev.id));
  if (trig !== null) k.spawn(processActor(trig.proc), 'eventfd_signal', { file: trig.file });
  await k.unlock(igateLock(vdev.id));
});

/** VFIO_DEVICE_SET_IRQS for VFIO_PCI_REQ_IRQ_INDEX: igate; the process's eventfd. */
export const vfioPciSetReqTrigger = kfunc('vfio_pci_set_req_trigger', { actor: 'vfio', source: 'drivers/vfio/pci/vfio_pci_core.c: vfio_pci_set_req_trigger' }, async function vfioPciSetReqTrigger(k: VK, vdev: VfioDevice, proc: string, file: string): Promise<Ret> {
  await k.lock(igateLock(vdev.id));
  k.write(vdev, 'req_trigger', { proc, file }, underIgate(vdev.id));
  await k.unlock(igateLock(vdev.id));
  return 0;
});

/**
 * VFIO_DEVICE_RESET: -EINVAL unless the open-time reset worked;
 * memory_lock (write, user mappings zapped) → pci_try_reset_function()
 * (§1.2 edge 20: device_lock by trylock → -EAGAIN, then the reset method's
 * IOMMU prepare/done under group->mutex). dev_set->lock is not held, so
 * iommufd attach/detach of the same device can run inside the reset window.
 */
export const vfioPciIoctlReset = kfunc('vfio_pci_ioctl_reset', { actor: 'vfio', source: 'drivers/vfio/pci/vfio_pci_core.c: vfio_pci_ioctl_reset' }, async function vfioPciIoctlReset(k: VK, vdev: VfioDevice): Promise<Ret> {
  // reset_works is set at open under dev_set->lock and read here without it
  if (!k.read(vdev, 'reset_works', LOCKLESS)) return errno('EINVAL');
  await k.down_write(memoryLock(vdev.id));
  const ret = await k.call<Ret>(PCI, 'pci_try_reset_function', { dev: vdev.dev });
  await k.up_write(memoryLock(vdev.id));
  return ret;
});

/** The devices a bus/slot reset of `dev` touches (pci_probe_reset_slot / pci_probe_reset_bus), or null when neither applies. */
const resetScope = kfunc('reset_scope', { actor: 'vfio', source: 'drivers/vfio/pci/vfio_pci_core.c: reset_scope' }, function resetScope(k: VK, dev: string): readonly string[] | null {
  const pt = k.state.pt;
  const slot = specOf(pt, dev)?.slot;
  if (slot !== undefined) return slotBusDevices(pt, slot).flatMap((d) => subtree(pt, d));
  const bridge = upstreamBridge(pt, dev);
  if (bridge === null) return null; // a root bus cannot be reset
  return (pt.children.get(bridge) ?? []).flatMap((d) => subtree(pt, d));
});

/**
 * VFIO_DEVICE_PCI_HOT_RESET (vfio_pci_ioctl_pci_hot_reset →
 * vfio_pci_dev_set_hot_reset): a group fd must list group fds and a cdev
 * fd must list none (-EINVAL); no slot or bus reset -ENODEV; a listed fd
 * that is not a group -EINVAL (not open: -EBADF); then dev_set->lock: a
 * device of the bus not in the set (not bound to vfio-pci) -EINVAL, an open
 * device the caller does not own -EINVAL, a contended memory_lock -EBUSY,
 * then pci_reset_bus() (-EAGAIN on a contended device_lock). §1.2 edge 21.
 */
export const vfioPciIoctlHotReset = kfunc('vfio_pci_ioctl_pci_hot_reset', { actor: 'vfio', source: 'drivers/vfio/pci/vfio_pci_core.c: vfio_pci_ioctl_pci_hot_reset' }, async function vfioPciIoctlHotReset(k: VK, df: DeviceFile, vdev: VfioDevice, groups: readonly (string | null)[]): Promise<Ret> {
  const cdev = df.group === null;
  if ((groups.length > 0) === cdev) return errno('EINVAL');
  const scope = resetScope(k, vdev.dev);
  if (scope === null) return errno('ENODEV');
  const files: VFile[] = [];
  try {
    const owned = new Set<string>();
    for (const g of groups) {
      const f = fget(k, g);
      if (f === null) return errno('EBADF');
      files.push(f);
      if (f.kind !== 'vfio-group') return errno('EINVAL');
      owned.add(f.priv);
    }
    const ictx = cdev ? k.read(df, 'iommufd', underDevSet(vdev.dev_set)) : null;
    return await devSetHotReset(k, vdev, scope, owned, ictx);
  } finally {
    for (const f of files) fput(k, f.id);
  }
});

const devSetHotReset = kfunc('vfio_pci_dev_set_hot_reset', { actor: 'vfio', source: 'drivers/vfio/pci/vfio_pci_core.c: vfio_pci_dev_set_hot_reset' }, async function devSetHotReset(k: VK, vdev: VfioDevice, scope: readonly string[], groups: ReadonlySet<string>, ictx: string | null): Promise<Ret> {
  const set = k.state.devSets[vdev.dev_set];
  if (set === undefined) return errno('EINVAL');
  const sl = underDevSet(set.id);
  await k.lock(devSetLock(set.id));
  const locked: VfioDevice[] = [];
  try {
    const members = k.read(set, 'device_list', sl).map((id) => k.state.devices[id]).filter((v): v is VfioDevice => v !== undefined);
    // vfio_pci_dev_set_resettable(): every device the reset touches is in the set
    const inSet = new Set(members.map((v) => v.dev));
    if (!scope.every((d) => inSet.has(d))) return errno('EINVAL');
    for (const m of members) {
      if (k.read(m, 'open_count', sl) > 0 && !ownsDevice(k, m, groups, ictx)) return errno('EINVAL');
      if (!(await k.down_write_trylock(memoryLock(m.id)))) return errno('EBUSY');
      locked.push(m);
    }
    return await k.call<Ret>(PCI, 'pci_reset_bus', { dev: vdev.dev });
  } finally {
    for (const m of [...locked].reverse()) await k.up_write(memoryLock(m.id));
    await k.unlock(devSetLock(set.id));
  }
});

/** vfio_dev_in_groups() / vfio_dev_in_iommufd_ctx(): listed by group fd, or bound (or its iommu group owned) through the same iommufd. */
const ownsDevice = kfunc('vfio_dev_in_groups', { actor: 'vfio', source: 'drivers/vfio/pci/vfio_pci_core.c: vfio_dev_in_groups' }, function ownsDevice(k: VK, m: VfioDevice, groups: ReadonlySet<string>, ictx: string | null): boolean {
  if (groups.has(m.group)) return true;
  if (ictx === null) return false;
  const idev = k.read(m, 'idev', underDevSet(m.dev_set));
  if (idev !== null) return k.state.idevs[idev]?.ictx === ictx;
  // iommufd_ctx_has_group(): a device of its iommu group is bound to the ctx
  return Object.values(k.state.idevs).some((d) => d.ictx === ictx && k.state.devices[d.vdev]?.group === m.group);
});

/**
 * The device performs DMA (the process programmed it through its BARs):
 * the unit translates it and reports the outcome (a `dma` event the
 * isolation checker reads). A device fd without access -EINVAL.
 */
export async function vfioDeviceDma(k: VK, vdev: VfioDevice, iova: number, pasid: number | null, write: boolean): Promise<unknown> {
  const unit = unitOf(k, vdev.dev);
  if (unit === null) return errno('ENODEV');
  return k.call(actorId(unitActor(unit)), 'dma', { dev: vdev.dev, iova, pasid, write });
}
