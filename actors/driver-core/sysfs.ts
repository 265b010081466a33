import { errno, isErrno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { lockId } from '../../protocol/ids.ts';
import type { LockRef } from '../../protocol/events.ts';
import { IOMMU_CORE, PCI } from '../../protocol/kernel.ts';
import { SYSFS_ATTRS, parseSysfsPath } from '../../protocol/sysfs.ts';
import type { SysfsBus, SysfsPath } from '../../protocol/sysfs.ts';
import { kfunc } from '../../runtime/kfunc.ts';
import { bindStore, unbindStore } from './dd.ts';
import {
  kernfsBreakActiveProtection, kernfsDrain, kernfsGetActive, kernfsNode, kernfsPutActive, kernfsRemove, kernfsRemoveSelf,
  kernfsUnbreakActiveProtection, openFileMutex, seqFileLock,
} from './kernfs.ts';
import type { KernfsNode } from './kernfs.ts';
import { DL, deviceOf, driverOf, isFreed, onceUnderDevice, registeredDriver, underDevice } from './state.ts';
import type { DK, Device } from './state.ts';
import { pciSpec } from '../../protocol/topology.ts';

/**
 * sysfs attributes over kernfs (fs/kernfs/file.c, fs/sysfs/file.c) and the
 * attributes' show/store (drivers/base/core.c, drivers/base/bus.c,
 * drivers/base/driver.c, drivers/pci/pci-sysfs.c, drivers/iommu/iommu.c).
 *
 * A `sysfs.read` is open + read(2) + close of a seq_file attribute:
 * seq_read_iter() takes m->lock, kernfs_seq_start() takes of->mutex and an
 * active reference (-ENODEV if the node is deactivated), ->show runs,
 * kernfs_seq_stop() puts both. A `sysfs.write` is kernfs_fop_write_iter():
 * of->mutex, an active reference, ->store, put. Each op opens its own file,
 * so its of->mutex is a fresh instance (it only ever orders the callback's
 * locks after itself).
 */

/** The bus's klist_drivers k_lock (lib/klist.c; the same class as every klist's). */
export function klistDriversLock(bus: SysfsBus): LockRef {
  return { id: lockId(`${bus}_bus_type.klist_drivers`), cls: 'klist->k_lock', kind: 'mutex' };
}

/** sysfsRemoved's entry for a driver's directory (device names never start with "driver:"). */
export const driverSysfsKey = (driver: string): string => `driver:${driver}`;

/** The directory of a device's attributes still exists: registered, and device_del() has not removed them yet. */
export function deviceSysfsLive(k: DK, dev: Device | null): dev is Device {
  return dev !== null && !isFreed(k, dev) && dev.registered && !k.state.sysfsRemoved.has(dev.name);
}

/** An open attribute file: its node, and for a `type` path the group whose directory it is in. */
interface Opened {
  readonly kn: KernfsNode;
  readonly p: SysfsPath;
  readonly group: string | null;
}

/** Path walk and open: -ENOENT when no such file exists now; -EACCES when it has no show (read) or no store (write). */
const openAttr = kfunc('kernfs_fop_open', { actor: 'driver-core', source: 'fs/kernfs/file.c: kernfs_fop_open' }, async function openAttr(k: DK, path: string, mode: 'read' | 'write'): Promise<Opened | Errno> {
  const p = parseSysfsPath(path);
  if (typeof p === 'string') return errno('ENOENT');
  const info = SYSFS_ATTRS[p.attr];
  if (mode === 'read' ? !info.show : !info.store) return errno('EACCES');
  if (p.kind === 'driver') {
    const drv = registeredDriver(k, p.driver);
    const kn = kernfsNode(k, path, p.attr, drv !== null && drv.spec.bus === p.bus && !k.state.sysfsRemoved.has(driverSysfsKey(p.driver)));
    return kn === null ? errno('ENOENT') : { kn, p, group: null };
  }
  const dev = deviceOf(k, p.dev);
  const live = deviceSysfsLive(k, dev) && dev.bus === p.bus;
  if (p.attr !== 'type') {
    const kn = kernfsNode(k, path, p.attr, live);
    return kn === null ? errno('ENOENT') : { kn, p, group: null };
  }
  // iommu_group is a link to /sys/kernel/iommu_groups/N: the walk resolves it to the group's directory and takes
  // no group reference; the attribute's active reference (and the drain in the group's release) keeps the group
  // alive under show/store
  if (!live) return errno('ENOENT');
  const dir = await k.call<{ readonly group: string; readonly key: string } | null>(IOMMU_CORE, 'iommu_group_sysfs_lookup', { dev: p.dev });
  // no link, or the group's directory was removed (kobject_del) after the walk resolved it: no such file
  if (dir !== null) k.touches(`sysfsRemoved:${dir.key}`);
  if (dir === null || k.state.sysfsRemoved.has(dir.key)) return errno('ENOENT');
  const kn = kernfsNode(k, `/sys/kernel/iommu_groups/${dir.group.slice('iommu_group.'.length)}/type`, 'type', true);
  return { kn: kn!, p, group: dir.group };
});

/**
 * sysfs_remove_dir() of a kobject whose release is under way (lib/kobject.c
 * kobject_cleanup → __kobject_del): kernfs_remove() of its directory — the
 * attribute nodes deactivated, then each drained (fs/kernfs/dir.c
 * __kernfs_remove → kernfs_drain).
 */
export const sysfsRemoveDir = kfunc('sysfs_remove_dir', { actor: 'driver-core', source: 'fs/sysfs/dir.c: sysfs_remove_dir' }, async function sysfsRemoveDir(k: DK, dir: string, key: string): Promise<0> {
  k.touches(`sysfsRemoved:${key}`);
  k.state.sysfsRemoved.add(key);
  await kernfsRemove(k, dir);
  return 0;
});

/**
 * kernfs_fop_read_iter() → seq_read_iter() (m->lock) → kernfs_seq_start()
 * (of->mutex, kernfs_get_active) → ->show → kernfs_seq_stop(). The text read, or an errno.
 */
export const kernfsFopRead = kfunc('kernfs_fop_read_iter', { actor: 'driver-core', source: 'fs/kernfs/file.c: kernfs_fop_read_iter' }, async function kernfsFopRead(k: DK, path: string): Promise<string | Errno> {
  const o = await openAttr(k, path, 'read');
  if (isErrno(o)) return o;
  const of = openFileMutex(k);
  const m = seqFileLock(k);
  await k.lock(m);
  await k.lock(of);
  let ret: string | Errno;
  if (!kernfsGetActive(k, o.kn)) {
    ret = errno('ENODEV');
  } else {
    ret = await sysfsShow(k, o);
    kernfsPutActive(k, o.kn);
  }
  await k.unlock(of);
  await k.unlock(m);
  return ret;
});

/**
 * kernfs_fop_write_iter(): of->mutex, kernfs_get_active (-ENODEV once
 * deactivated), ->store, kernfs_put_active. Bytes written, or an errno.
 */
export const kernfsFopWrite = kfunc('kernfs_fop_write_iter', { actor: 'driver-core', source: 'fs/kernfs/file.c: kernfs_fop_write_iter' }, async function kernfsFopWrite(k: DK, path: string, value: string): Promise<number | Errno> {
  const o = await openAttr(k, path, 'write');
  if (isErrno(o)) return o;
  const of = openFileMutex(k);
  await k.lock(of);
  let ret: number | Errno;
  if (!kernfsGetActive(k, o.kn)) {
    ret = errno('ENODEV');
  } else {
    ret = await sysfsStore(k, o, value);
    kernfsPutActive(k, o.kn);
  }
  await k.unlock(of);
  return ret;
});

/** sysfs_kf_seq_show() → dev_attr_show() → the attribute's show. */
const sysfsShow = kfunc('sysfs_kf_seq_show', { actor: 'driver-core', source: 'fs/sysfs/file.c: sysfs_kf_seq_show' }, async function sysfsShow(k: DK, o: Opened): Promise<string | Errno> {
  const p = o.p;
  if (p.kind !== 'device') return errno('EIO');
  const dev = deviceOf(k, p.dev)!;
  switch (p.attr) {
    case 'uevent': return uevent_show(k, dev);
    case 'driver_override': return driverOverrideShow(k, dev);
    case 'type': return k.call<string | Errno>(IOMMU_CORE, 'iommu_group_show_type', { group: o.group });
    default: return errno('EIO');
  }
});

/** sysfs_kf_write() → dev_attr_store() / drv_attr_store() → the attribute's store; returns count on success. */
const sysfsStore = kfunc('sysfs_kf_write', { actor: 'driver-core', source: 'fs/sysfs/file.c: sysfs_kf_write' }, async function sysfsStore(k: DK, o: Opened, value: string): Promise<number | Errno> {
  const p = o.p;
  const count = value.length;
  const done = (r: unknown): number | Errno => (isErrno(r) ? r : count);
  const arg = value.replace(/\n$/, '');
  if (p.kind === 'driver') return done(await (p.attr === 'bind' ? bindStore(k, arg, p.driver) : unbindStore(k, arg, p.driver)));
  const dev = deviceOf(k, p.dev)!;
  switch (p.attr) {
    case 'driver_override': return done(await driverSetOverride(k, dev, arg));
    case 'reset': return done(await devResetStore(k, dev, arg));
    case 'remove': return done(await removeStore(k, dev, o.kn, arg));
    case 'type': {
      if (arg !== 'DMA' && arg !== 'DMA-FQ' && arg !== 'identity') return errno('EINVAL');
      return done(await k.call(IOMMU_CORE, 'iommu_group_store_type', { group: o.group, type: arg }));
    }
    default: return errno('EIO');
  }
});

/**
 * uevent_show() (drivers/base/core.c): the kset's uevent op, dev_uevent(),
 * fills the environment; the model keeps its DRIVER= line (the part that
 * reads another object: the bound driver and its name).
 */
const uevent_show = kfunc('uevent_show', { actor: 'driver-core', source: 'drivers/base/core.c: uevent_show' }, async function uevent_show(k: DK, dev: Device): Promise<string> {
  const env: string[] = [];
  await devUevent(k, dev, env);
  return env.map((v) => `${v}\n`).join('');
});

/** dev_uevent(): the driver-core part of a device's uevent environment (DRIVER=). */
export const devUevent = kfunc('dev_uevent', { actor: 'driver-core', source: 'drivers/base/core.c: dev_uevent' }, async function devUevent(k: DK, dev: Device, env: string[]): Promise<void> {
  await devDriverUevent(k, dev, env);
});

/**
 * dev_driver_uevent() (7.0): READ_ONCE(dev->driver) and drv->name under the
 * bus's klist_drivers k_lock — "to ensure that driver structure is not going
 * to disappear from under us we take bus' drivers klist lock": a spinlock
 * section is an RCU-sched reader, and the module's memory is freed only
 * after bus_remove_driver()'s klist_remove() (same lock) and free_module()'s
 * synchronize_rcu(). The dereference of the pointer is a step of its own
 * (k.yield): between the load and the use another CPU may run the unbind
 * and the unload, which is what the lock must exclude.
 */
export const devDriverUevent = kfunc('dev_driver_uevent', { actor: 'driver-core', source: 'drivers/base/core.c: dev_driver_uevent' }, async function devDriverUevent(k: DK, dev: Device, env: string[]): Promise<void> {
  const lock = klistDriversLock(dev.bus);
  await k.lock(lock);
  const name = k.read(dev, 'driver', onceUnderDevice(dev));
  const drv = driverOf(k, name);
  if (drv !== null) {
    await k.yield();
    env.push(`DRIVER=${driverName(k, drv.id, drv.name_obj, drv.spec.name)}`);
  }
  await k.unlock(lock);
});

/** Reading drv->name: a use of the driver struct and of the string (module memory for a module's driver). */
export function driverName(k: DK, drv: import('../../protocol/ids.ts').ObjId, nameObj: import('../../protocol/ids.ts').ObjId | null, name: string): string {
  k.use(drv, 'drv->name');
  if (nameObj !== null) k.use(nameObj, 'drv->name');
  return name;
}

/** driver_override_show() (drivers/pci/pci-sysfs.c): under device_lock; "(null)" when unset. */
const driverOverrideShow = kfunc('driver_override_show', { actor: 'driver-core', source: 'drivers/pci/pci-sysfs.c: driver_override_show' }, async function driverOverrideShow(k: DK, dev: Device): Promise<string> {
  await k.lock(DL(dev));
  const v = dev.driver_override !== undefined ? k.read(dev, 'driver_override', underDevice(dev)) : bootOverride(k, dev);
  await k.unlock(DL(dev));
  return `${v ?? '(null)'}\n`;
});

function bootOverride(k: DK, dev: Device): string | null {
  const t = k.state.topology;
  const d = dev.bus === 'pci' ? pciSpec(t, dev.name) : (t.platform ?? []).find((x) => x.name === dev.name);
  return d?.driver ?? null;
}

/**
 * driver_set_override() (drivers/base/driver.c), from driver_override_store():
 * the new string replaces the old under device_lock; an empty one clears it.
 * It only steers the next match: a bound driver stays.
 */
export const driverSetOverride = kfunc('driver_set_override', { actor: 'driver-core', source: 'drivers/base/driver.c: driver_set_override' }, async function driverSetOverride(k: DK, dev: Device, value: string): Promise<0 | Errno> {
  if (value.length >= 4096) return errno('EINVAL');
  await k.lock(DL(dev));
  k.write(dev, 'driver_override', value === '' ? null : value, underDevice(dev));
  await k.unlock(DL(dev));
  return 0;
});

/**
 * reset_store() (drivers/pci/pci-sysfs.c): kstrtoul, anything but 1 is
 * -EINVAL; pci_reset_function() (pci_dev_lock: device_lock under the
 * attribute's active reference).
 */
export const devResetStore = kfunc('reset_store', { actor: 'driver-core', source: 'drivers/pci/pci-sysfs.c: reset_store' }, async function devResetStore(k: DK, dev: Device, value: string): Promise<0 | Errno> {
  if (value !== '1') return errno('EINVAL');
  const r = await k.call<number | Errno>(PCI, 'pci_reset_function', { dev: dev.name });
  return isErrno(r) ? r : 0;
});

/**
 * remove_store() (drivers/pci/pci-sysfs.c): a non-zero value and
 * device_remove_file_self() → kernfs_remove_self() winning → the removal
 * (pci_stop_and_remove_bus_device_locked). The store's own active
 * reference is broken around the self-removal, so device_del() does not
 * drain the file the store is writing.
 */
export const removeStore = kfunc('remove_store', { actor: 'driver-core', source: 'drivers/pci/pci-sysfs.c: remove_store' }, async function removeStore(k: DK, dev: Device, kn: KernfsNode, value: string): Promise<0 | Errno> {
  if (!/^\d+$/.test(value)) return errno('EINVAL');
  if (Number(value) === 0) return 0;
  kernfsBreakActiveProtection(k, kn);
  const won = kernfsRemoveSelf(k, kn);
  await kernfsDrain(k, kn);
  kernfsUnbreakActiveProtection(k, kn);
  if (won) await k.call(PCI, 'pci_stop_and_remove_bus_device_locked', { dev: dev.name });
  return 0;
});
