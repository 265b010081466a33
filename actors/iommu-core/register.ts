import { errno, isErrno } from '../../protocol/errno.ts';
import { iommuDeviceLock, iommuProbeDeviceLock } from '../../protocol/lock-classes.ts';
import { DRIVER_CORE, IOMMU_CORE } from '../../protocol/kernel.ts';
import { G, asObj, devIommuOf, groupById, underGroup } from './state.ts';
import type { IK } from './state.ts';
import { unitCall } from './domains.ts';
import type { Ret } from './attach.ts';
import { iommu_release_device, probeDeviceLocked, setupDefaultDomain, setupDmaOps } from './probe.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * IOMMU instances registered at run time (drivers/iommu/iommu.c, 7.0:
 * iommu_device_register, bus_iommu_probe, probe_iommu_group,
 * iommu_device_unregister, remove_iommu_group; docs/kernel-facts.md §3.1).
 *
 * A unit declared `present_at_boot: false` has hardware but no registered
 * driver until the `iommu.register` op: its devices go through device_add
 * without an IOMMU (the probe finds no instance: -ENODEV) and their drivers
 * bind with dma-direct, or defer (-EPROBE_DEFER from of_iommu_configure for
 * a firmware-described SMMUv3). Registration walks every IOMMU bus twice:
 * phase 1 probes each device under iommu_probe_device_lock (groups form, no
 * default domain yet), phase 2 sets each collected group's default domain
 * and DMA ops under its group->mutex. Between the phases a group has
 * members and no default domain: a client's really_probe gets
 * -EPROBE_DEFER from iommu_device_use_default_domain().
 */

/** iommu_buses[] (drivers/iommu/iommu.c): the platform bus first, then PCI. */
const IOMMU_BUSES = ['platform', 'pci'] as const;
type IommuBus = (typeof IOMMU_BUSES)[number];

/**
 * iommu_device_register(iommu, ops, hwdev): the instance goes on
 * iommu_device_list (iommu_device_lock), then bus_iommu_probe() of every
 * bus in iommu_buses[]; a failure unregisters it again. The model's caller
 * is the unit driver's probe: translation is turned on first (the drivers
 * enable remapping before they register: intel init_dmars,
 * arm_smmu_device_reset), and after a successful registration the driver
 * core's driver_bound() of the IOMMU's own device kicks the deferred probe
 * list (driver_deferred_probe_trigger), so clients that deferred for the
 * missing IOMMU probe again. Registering a unit that is on the list already
 * is -EEXIST (the kernel would list_add it twice; the document reader
 * refuses it at load).
 */
export const iommu_device_register = kfunc('iommu_device_register', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_device_register' }, async function iommu_device_register(k: IK, { unit }: { unit: string }): Promise<Ret> {
  if (k.state.units[unit] === undefined) return errno('ENODEV');
  const list = k.state.iommuDeviceList;
  const guard = { guard: iommuDeviceLock() };
  await unitCall(k, unit, 'set_translation', { enabled: true });
  await k.lock(iommuDeviceLock());
  const units = k.read(list, 'units', guard);
  if (units.includes(unit)) {
    await k.unlock(iommuDeviceLock());
    return errno('EEXIST');
  }
  k.write(list, 'units', [...units, unit], guard);
  await k.unlock(iommuDeviceLock());
  let err: Ret = 0;
  for (const bus of IOMMU_BUSES) {
    err = await busIommuProbe(k, bus, unit);
    if (isErrno(err)) break;
  }
  if (isErrno(err)) {
    await iommu_device_unregister(k, { unit });
    return err;
  }
  // WRITE_ONCE(iommu->ready, true): nothing of the model reads it
  await k.call(DRIVER_CORE, 'driver_deferred_probe_trigger', null);
  return 0;
});

/**
 * bus_iommu_probe(bus): phase 1, bus_for_each_dev() → probe_iommu_group()
 * per device (the walk's group_list collects groups without a default
 * domain); phase 2, per collected group under group->mutex:
 * iommu_setup_default_domain(group, 0) and iommu_setup_dma_ops() for every
 * member (ops->probe_finalize, after the unlock, is not modelled: no unit
 * model has one). A group freed between the phases is a use of freed memory
 * (the kernel keeps no reference for its group_list entry).
 */
export const busIommuProbe = kfunc('bus_iommu_probe', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: bus_iommu_probe' }, async function busIommuProbe(k: IK, bus: IommuBus, unit: string): Promise<Ret> {
  const walk = `${unit}:${bus}`;
  // the walk's group_list: this task's, and the probe callbacks it makes
  k.touches(`walks:${walk}`);
  k.state.walks[walk] = [];
  try {
    const ret = await k.call<unknown>(DRIVER_CORE, 'bus_for_each_dev', { bus, fn: { to: IOMMU_CORE, op: 'probe_iommu_group', body: { walk } } });
    if (isErrno(ret)) return ret;
    for (;;) {
      k.touches(`walks:${walk}`);
      const [gid, ...rest] = k.state.walks[walk] ?? [];
      if (gid === undefined) break;
      k.state.walks[walk] = rest;
      const g = groupById(k, gid);
      if (g === null) {
        k.use(asObj(gid), 'bus_iommu_probe');
        continue;
      }
      await k.lock(G(g.id));
      try {
        // list_del_init(&group->entry); "We go to the trouble of deferred default domain creation so
        // that the cross-group default domain type and the setup of the IOMMU_RESV_DIRECT will work correctly"
        const set = await setupDefaultDomain(k, g, null);
        if (isErrno(set)) return set;
        for (const dev of k.read(g, 'devices', underGroup(g.id))) {
          const link = k.state.devices[dev];
          const di = devIommuOf(k, dev);
          if (link !== undefined && di !== null) await setupDmaOps(k, g, dev, link, di);
        }
      } finally {
        await k.unlock(G(g.id));
      }
    }
    return 0;
  } finally {
    k.touches(`walks:${walk}`);
    delete k.state.walks[walk];
  }
});

/**
 * probe_iommu_group(dev, group_list): the bus walk's callback, under
 * iommu_probe_device_lock; -ENODEV (no IOMMU for this device, or another
 * walker finished it) is not an error of the walk.
 */
export const probe_iommu_group = kfunc('probe_iommu_group', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: probe_iommu_group' }, async function probe_iommu_group(k: IK, { dev, walk }: { dev: string; walk: string }): Promise<Ret> {
  await k.lock(iommuProbeDeviceLock());
  let ret: Ret;
  try {
    ret = await probeDeviceLocked(k, dev, walk);
  } finally {
    await k.unlock(iommuProbeDeviceLock());
  }
  return isErrno(ret) && ret.errno === 'ENODEV' ? 0 : ret;
});

/**
 * iommu_device_unregister(iommu): bus_for_each_dev(remove_iommu_group) on
 * every bus — iommu_release_device() of each device this instance
 * translates, without device_lock and whether or not a driver is still
 * bound (docs/kernel-facts.md §8.3) — then off iommu_device_list. The
 * unit's driver turns translation off after it (its remove). A unit that
 * is not registered is -ENODEV (the document reader refuses it at load).
 */
export const iommu_device_unregister = kfunc('iommu_device_unregister', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_device_unregister' }, async function iommu_device_unregister(k: IK, { unit }: { unit: string }): Promise<Ret> {
  if (k.state.units[unit] === undefined) return errno('ENODEV');
  const list = k.state.iommuDeviceList;
  const guard = { guard: iommuDeviceLock() };
  await k.lock(iommuDeviceLock());
  const on = k.read(list, 'units', guard).includes(unit);
  await k.unlock(iommuDeviceLock());
  if (!on) return errno('ENODEV');
  for (const bus of IOMMU_BUSES) {
    await k.call(DRIVER_CORE, 'bus_for_each_dev', { bus, fn: { to: IOMMU_CORE, op: 'remove_iommu_group', body: { unit } } });
  }
  await k.lock(iommuDeviceLock());
  k.write(list, 'units', k.read(list, 'units', guard).filter((u) => u !== unit), guard);
  await k.unlock(iommuDeviceLock());
  await unitCall(k, unit, 'set_translation', { enabled: false });
  return 0;
});

/** remove_iommu_group(dev, iommu): `if (dev->iommu && dev->iommu->iommu_dev == data) iommu_release_device(dev)`. */
export const remove_iommu_group = kfunc('remove_iommu_group', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: remove_iommu_group' }, async function remove_iommu_group(k: IK, { dev, unit }: { dev: string; unit: string }): Promise<Ret> {
  if (devIommuOf(k, dev)?.unit === unit) await iommu_release_device(k, { dev });
  return 0;
});
