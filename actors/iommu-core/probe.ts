import { errno, isErrno } from '../../protocol/errno.ts';
import { iommuDeviceLock, iommuProbeDeviceLock } from '../../protocol/lock-classes.ts';
import { DRIVER_CORE, PCI } from '../../protocol/kernel.ts';
import type { BusNotifyAction } from '../../protocol/iommu-core.ts';
import type { DriverSnapshot } from '../../protocol/driver-core.ts';
import type { PciGroupPeers } from '../../protocol/pci.ts';
import { identityDomainOf } from '../../protocol/iommu-unit.ts';
import { G, asObj, devIommuBit, groupById, setDevIommuBit, underGroup } from './state.ts';
import type { DevIommu, DeviceLink, Group, IK } from './state.ts';
import { allocDefaultDomain, freeDomain, unitCall } from './domains.ts';
import { RMR_IOVA } from './variants/reset-blocking.ts';
import { attachDevice, deviceSetDomain, groupOfDevice, groupSetDomainInternal, withGroupMutex } from './attach.ts';
import type { Ret } from './attach.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * Devices entering and leaving the IOMMU layer (docs/kernel-facts.md §3.1;
 * drivers/iommu/iommu.c: iommu_bus_notifier, iommu_probe_device,
 * __iommu_probe_device, iommu_init_device, iommu_setup_default_domain,
 * iommu_release_device, iommu_deinit_device, iommu_group_release).
 */

/** iommu_bus_notifier(): the driver core's bus events. Errors are not reported back (NOTIFY_DONE). */
export const iommu_bus_notifier = kfunc('iommu_bus_notifier', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_bus_notifier' }, async function iommu_bus_notifier(k: IK, { action, dev }: { action: BusNotifyAction; dev: string }): Promise<Ret> {
  switch (action) {
    case 'ADD_DEVICE':
      await iommu_probe_device(k, { dev });
      return 0;
    case 'REMOVED_DEVICE':
      await iommu_release_device(k, { dev });
      return 0;
    case 'BOUND_DRIVER':
      return k.state.variants['dma-owner'] === 'notifier-bug-on' ? groupNotifyBoundDriver(k, dev) : 0;
    case 'DEL_DEVICE': case 'BIND_DRIVER': case 'UNBIND_DRIVER': case 'UNBOUND_DRIVER': case 'DRIVER_NOT_BOUND':
      return 0;
  }
});

/**
 * Before 5.19 (variant dma-owner=notifier-bug-on): the IOMMU group notifier
 * told VFIO that a driver had bound inside a group VFIO had handed to
 * userspace — after the probe, when the driver may already have started
 * DMA — and vfio_iommu_group_notifier() could only BUG_ON
 * (docs/kernel-facts.md B20). VFIO's part is modelled here until the VFIO
 * actor exists: a user-owned group plus a driver without driver_managed_dma.
 */
const groupNotifyBoundDriver = kfunc('iommu_group_notify_bound_driver', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_group_notify_bound_driver' }, async function groupNotifyBoundDriver(k: IK, dev: string): Promise<Ret> {
  const g = groupOfDevice(k, dev);
  if (g === null) return 0;
  const drv = await k.call<DriverSnapshot>(DRIVER_CORE, 'dev_driver_snapshot', { dev });
  const owner = await withGroupMutex(k, g, async () => k.read(g, 'owner', underGroup(g.id)));
  if (owner !== null && !drv.driver_managed_dma) {
    k.bug(`vfio_iommu_group_notifier: BUG_ON(vfio_group_nb_verify(group, dev)): ${dev} bound to ${drv.driver ?? '(none)'} in a group owned by ${owner}`);
  }
  return 0;
});

/** iommu_probe_device(): __iommu_probe_device under the global probe lock. */
export const iommu_probe_device = kfunc('iommu_probe_device', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_probe_device' }, async function iommu_probe_device(k: IK, { dev }: { dev: string }): Promise<Ret> {
  await k.lock(iommuProbeDeviceLock());
  try {
    return await probeDeviceLocked(k, dev, null);
  } finally {
    await k.unlock(iommuProbeDeviceLock());
  }
});

/** struct device's IOMMU fields of `dev` (made on first use: every struct device has them). */
export function linkOf(k: IK, dev: string): DeviceLink {
  let link = k.state.devices[dev];
  if (link === undefined) {
    link = { id: asObj(dev), iommu_group: null, iommu: null, dma_iommu: false, dma_direct: {} };
    k.state.devices[dev] = link;
  }
  return link;
}

/**
 * __iommu_probe_device(dev, group_list), under iommu_probe_device_lock.
 * `walk` names the bus_iommu_probe() walk that called it (its group_list),
 * or null for a single probe (the bus notifier, the OF replay): a single
 * probe sets up the group's default domain at once; a walk only queues the
 * group, and bus_iommu_probe() sets the default domains up per group after
 * the whole bus was probed (phase 2).
 */
export const probeDeviceLocked = kfunc('__iommu_probe_device', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: __iommu_probe_device' }, async function probeDeviceLocked(k: IK, dev: string, walk: string | null): Promise<Ret> {
  const spec = k.state.specs[dev];
  const unit = spec?.unit ?? null;
  if (spec === undefined || unit === null || k.state.units[unit] === undefined) return errno('ENODEV');
  const link = linkOf(k, dev);
  // Already in a group: someone else finished the probe (B1's "already probed").
  if (k.read(link, 'iommu_group', { guard: iommuProbeDeviceLock() }) !== null) return 0;

  // iommu_init_device(): dev_iommu_get, the dma_configure window, the ops lookup, ops->probe_device, ops->device_group.
  const di = k.read(link, 'iommu', { guard: iommuProbeDeviceLock() }) === null ? await devIommuGet(k, link, dev, unit) : k.state.devIommu[link.iommu!]!;
  let late: boolean | null = null;
  if (!k.read(di, 'fwspec', { guard: iommuProbeDeviceLock() })) {
    const opened = await dmaConfigureWindow(k, dev, link);
    if (opened === 'bound') late = true;
    else if (opened !== 0) return opened;
  }
  // iommu_fwspec_ops() → iommu_from_fwnode(): the instance on iommu_device_list, under iommu_device_lock.
  // A unit whose driver has not registered it is not there: -ENODEV, and dev->iommu is freed (err_free).
  if (!(await iommuDeviceRegistered(k, unit))) {
    devIommuFree(k, link);
    return errno('ENODEV');
  }
  const probed = await unitCall<{ max_pasids: number } | import('../../protocol/errno.ts').Errno>(k, unit, 'probe_device', { dev, pasid_bits: spec.pasid_bits });
  if (isErrno(probed)) {
    devIommuFree(k, link);
    return probed;
  }
  // "And if we do now see any replay calls, they would indicate someone
  // misusing the dma_configure path outside bus code": a driver already
  // bound (or binding) when the device reaches the IOMMU (__iommu_probe_device, 7.0).
  if (late ?? (await k.call<DriverSnapshot>(DRIVER_CORE, 'dev_driver_snapshot', { dev })).driver !== null) {
    k.warn(`${dev}: late IOMMU probe at driver bind, something fishy here!`);
  }
  k.write(di, 'max_pasids', probed.max_pasids, { guard: iommuProbeDeviceLock() });
  // dev->iommu->attach_deferred = ops->is_attach_deferred(dev): set under the probe lock only
  if (spec.attach_deferred && k.state.units[unit]?.attach_deferred === true) await setDevIommuBit(k, di, 'attach_deferred', true, iommuProbeDeviceLock());
  const g = await deviceGroup(k, dev);
  const had = k.read(link, 'iommu_group', { guard: iommuProbeDeviceLock() });
  k.write(link, 'iommu_group', g.id, { guard: iommuProbeDeviceLock() });
  if (had !== null) {
    // Another walker finished this device's probe during the window and the
    // recheck is gone (B6 before 0c8e9c148e29): iommu_group_alloc_device()'s
    // sysfs_create_link(&dev->kobj, .., "iommu_group") finds the link and fails
    // (sysfs_warn_dup), and the unwind (err_put_group: iommu_deinit_device)
    // tears down the dev->iommu the other walker set up: release domain,
    // release_device, dev->iommu_group = NULL, dev_iommu_free.
    k.warn(`sysfs: cannot create duplicate filename '/devices/${dev}/iommu_group'`);
    await removeUnderGroupMutex(k, g, dev, link, di);
    return errno('EEXIST');
  }

  let failed: Ret = 0;
  await k.lock(G(g.id));
  try {
    k.write(g, 'devices', [...k.read(g, 'devices', underGroup(g.id)), dev], underGroup(g.id));
    // iommu_create_device_direct_mappings(): require_direct is set under group->mutex
    if (spec.require_direct) await setDevIommuBit(k, di, 'require_direct', true, G(g.id));
    const domain = k.read(g, 'domain', underGroup(g.id));
    // __iommu_probe_device(): the IOMMU_RESV_DIRECT mappings go into the
    // default domain before the device is attached to anything, so firmware
    // DMA never sees the translating domain without them.
    const def0 = k.read(g, 'default_domain', underGroup(g.id));
    if (def0 !== null && spec.require_direct) await createDirectMappings(k, def0, dev);
    let ret: Ret = 0;
    if (domain !== null) {
      // The group already translates: this device joins its current domain.
      ret = await deviceSetDomain(k, g, dev, domain, null, 0);
    } else if (def0 === null && walk === null) {
      ret = await setupDefaultDomain(k, g, null);
    } else if (def0 === null && walk !== null) {
      // "With a group_list argument we defer the default_domain setup to the
      // caller by providing a de-duplicated list of groups that need further setup."
      k.touches(`walks:${walk}`);
      const list = k.state.walks[walk] ?? [];
      if (!list.includes(g.id)) k.state.walks[walk] = [...list, g.id];
    }
    if (isErrno(ret)) {
      // the error unwind: out of the group, iommu_deinit_device, then the group reference
      failed = ret;
      await removeFromGroup(k, g, dev, link, di);
    } else {
      const def = k.read(g, 'default_domain', underGroup(g.id));
      if (def !== null) await setupDmaOps(k, g, dev, link, di);
    }
  } finally {
    await k.unlock(G(g.id));
  }
  if (isErrno(failed)) iommu_group_put(k, { group: g.id });
  return failed;
});

/**
 * iommu_from_fwnode() / iommu_ops_from_fwnode(): is `unit` on
 * iommu_device_list? The list is walked under iommu_device_lock.
 */
export const iommuDeviceRegistered = kfunc('iommu_from_fwnode', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_from_fwnode' }, async function iommuDeviceRegistered(k: IK, unit: string): Promise<boolean> {
  const list = k.state.iommuDeviceList;
  await k.lock(iommuDeviceLock());
  const on = k.read(list, 'units', { guard: iommuDeviceLock() }).includes(unit);
  await k.unlock(iommuDeviceLock());
  return on;
});

/**
 * iommu_init_device() (drivers/iommu/iommu.c, 7.0): "For FDT-based systems
 * and ACPI IORT/VIOT, the common firmware parsing is buried in the bus
 * dma_configure path ... so for now just invoke the whole thing":
 *
 *   if (!dev->iommu->fwspec && !dev->driver && dev->bus->dma_configure) {
 *     mutex_unlock(&iommu_probe_device_lock);
 *     dev->bus->dma_configure(dev);
 *     mutex_lock(&iommu_probe_device_lock);
 *     if (!dev->iommu || dev->iommu_group) return -ENODEV;  // 0c8e9c148e29
 *   }
 *
 * The bus hook runs without device_lock and without the probe lock, so it
 * can race with really_probe() setting dev->driver (B5: the hook reads it
 * once) and another walker can finish this device's probe meanwhile (B6:
 * "If another instance finished the job for us, skip it"). Returns 0 to go
 * on, or the -ENODEV of the recheck.
 */
const dmaConfigureWindow = kfunc('iommu_init_device', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_init_device' }, async function dmaConfigureWindow(k: IK, dev: string, link: DeviceLink): Promise<Ret | 'bound'> {
  // a plain `!dev->driver` under the probe lock only: the model reads it once (READ_ONCE)
  const drv = await k.call<DriverSnapshot>(DRIVER_CORE, 'dev_driver_snapshot', { dev });
  // "The device already having a driver bound means dma_configure has already run": no window (and the late-probe WARN follows)
  if (drv.driver !== null) return 'bound';
  await k.unlock(iommuProbeDeviceLock());
  await k.call(DRIVER_CORE, 'bus_dma_configure', { dev });
  await k.lock(iommuProbeDeviceLock());
  // "If another instance finished the job for us, skip it" (0c8e9c148e29; variant init-device-recheck=none: before it)
  if (k.state.variants['init-device-recheck'] === 'enodev'
    && (k.read(link, 'iommu', { guard: iommuProbeDeviceLock() }) === null || k.read(link, 'iommu_group', { guard: iommuProbeDeviceLock() }) !== null)) {
    return errno('ENODEV');
  }
  return 0;
});

/**
 * of_iommu_configure() / the IORT half of acpi_dma_configure(), reached from
 * the bus dma_configure of a device whose unit is described by firmware
 * (SMMUv3): under iommu_probe_device_lock, nothing to do if the fwspec
 * exists; else dev->iommu (dev_iommu_get) gets its fwspec (of_iommu_xlate).
 * "If we're not on the iommu_probe_device() path (as indicated by the
 * initial dev->iommu) then try to simulate it": the probe replay, after
 * unlocking. DMAR/IVRS units (VT-d, AMD) configure nothing here.
 */
export const of_iommu_configure = kfunc('of_iommu_configure', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: of_iommu_configure' }, async function of_iommu_configure(k: IK, { dev }: { dev: string }): Promise<Ret> {
  const spec = k.state.specs[dev];
  const unit = spec?.unit ?? null;
  const u = unit === null ? undefined : k.state.units[unit];
  if (spec === undefined || unit === null || u === undefined || u.kind !== 'smmu-v3') return errno('ENODEV');
  await k.lock(iommuProbeDeviceLock());
  const link = linkOf(k, dev);
  const cur = k.read(link, 'iommu', { guard: iommuProbeDeviceLock() });
  const present = cur !== null;
  if (present && k.read(k.state.devIommu[cur]!, 'fwspec', { guard: iommuProbeDeviceLock() })) {
    await k.unlock(iommuProbeDeviceLock());
    return 0;
  }
  // of_iommu_xlate() → iommu_fwspec_init(): an IOMMU whose driver has not registered it yet is
  // driver_deferred_probe_check_state() = -EPROBE_DEFER, with no fwspec (the client's probe is deferred)
  if (!(await iommuDeviceRegistered(k, unit))) {
    await k.unlock(iommuProbeDeviceLock());
    return errno('EPROBE_DEFER');
  }
  const di = present ? k.state.devIommu[cur]! : await devIommuGet(k, link, dev, unit);
  k.write(di, 'fwspec', true, { guard: iommuProbeDeviceLock() });
  await k.unlock(iommuProbeDeviceLock());
  if (!present) return iommu_probe_device(k, { dev });
  return 0;
});

/** dev_iommu_get(): allocates dev->iommu (asserts the probe lock, as the kernel does). */
const devIommuGet = kfunc('dev_iommu_get', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: dev_iommu_get' }, async function devIommuGet(k: IK, link: DeviceLink, dev: string, unit: string): Promise<DevIommu> {
  await k.assertHeld(iommuProbeDeviceLock());
  const id = k.alloc('dev_iommu', `${dev}.iommu`);
  const di: DevIommu = {
    id, dev, unit, max_pasids: 0, bits: 0, attach_deferred: false, pci_32bit_workaround: false, require_direct: false, reset_depth: 0, hw_domain: null,
    // the iommufd selftest's mock devices get their fwspec before device_add (iommu_mock_device_add)
    fwspec: k.state.units[unit]?.kind === 'mock',
  };
  k.state.devIommu[id] = di;
  k.write(link, 'iommu', id, { guard: iommuProbeDeviceLock() });
  return di;
});

/** dev_iommu_free(): dev->iommu = NULL first, then free (B3's "unpublish, then free"). */
const devIommuFree = kfunc('dev_iommu_free', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: dev_iommu_free' }, function devIommuFree(k: IK, link: DeviceLink): void {
  const id = link.iommu;
  if (id === null) return;
  k.write(link, 'iommu', null, { lockless: true });
  delete k.state.devIommu[id];
  k.free(asObj(id));
});

/**
 * ops->device_group(): pci_device_group() for PCI devices (the pci actor
 * knows which devices must share), a driver-defined group for platform
 * devices that name one, else generic_device_group() (a singleton). Joining
 * an existing group takes a reference (iommu_group_get); a new group starts
 * with one (iommu_group_alloc).
 */
const deviceGroup = kfunc('pci_device_group', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: pci_device_group' }, async function deviceGroup(k: IK, dev: string): Promise<Group> {
  const spec = k.state.specs[dev];
  let peers: readonly string[] = [dev];
  if (spec?.bus === 'pci') {
    peers = (await k.call<PciGroupPeers>(PCI, 'pci_device_group', { dev })).peers;
  } else if (spec?.group !== null && spec?.group !== undefined) {
    const tag = spec.group;
    peers = (k.state.topology.platform ?? []).filter((d) => d.group === tag).map((d) => d.name);
  }
  for (const p of peers) {
    if (p === dev) continue;
    const link = k.state.devices[p];
    const gid = link === undefined ? null : k.read(link, 'iommu_group', { guard: iommuProbeDeviceLock() });
    const g = gid === null ? null : groupById(k, gid);
    if (g !== null) {
      k.get(g.id);
      return g;
    }
  }
  return groupAlloc(k);
});

/** iommu_group_alloc(): the lowest free group number, like the kernel's IDA. */
const groupAlloc = kfunc('iommu_group_alloc', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_group_alloc' }, function groupAlloc(k: IK): Group {
  let n = 0;
  while (k.state.groupIds[n] !== undefined && k.state.groupIds[n]! > 0) n++;
  k.state.groupIds[n] = 1;
  const id = k.alloc('iommu_group', `iommu_group.${n}`);
  const g: Group = {
    id, devices: [], owner: null, owner_cnt: 0, domain: null, default_domain: null, blocking_domain: null,
    resetting_domain: null, pasid_array: {}, pasid_handles: {}, handle_seq: 0, dma_hints: {},
  };
  k.state.groups[id] = g;
  return g;
});

/**
 * iommu_setup_default_domain(): builds the default domain of the group's
 * type (identity under iommu.passthrough, else DMA), attaches every member
 * and makes it group->domain; replaces the old default if there was one.
 * Caller holds group->mutex.
 */
export const setupDefaultDomain = kfunc('iommu_setup_default_domain', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_setup_default_domain' }, async function setupDefaultDomain(k: IK, g: Group, type: 'identity' | 'dma' | 'dma-fq' | null): Promise<Ret> {
  const want = type ?? (k.state.passthrough ? 'identity' : 'dma');
  const old = k.read(g, 'default_domain', underGroup(g.id));
  const dom = await allocDefaultDomain(k, g, want);
  if (isErrno(dom)) return dom;
  // every member's direct mappings are created before the domain is attached
  // ("Drivers are supposed to allow mappings to be installed in a domain
  // before device attachment"); the kernel's retry after attach for drivers
  // that refuse is not needed: the model's units accept them.
  for (const member of k.read(g, 'devices', underGroup(g.id))) {
    if (k.state.specs[member]?.require_direct === true) await createDirectMappings(k, dom, member);
  }
  // "We must set default_domain early for __iommu_device_set_domain"
  k.write(g, 'default_domain', dom, underGroup(g.id));
  if (k.read(g, 'domain', underGroup(g.id)) !== null) {
    const ret = await groupSetDomainInternal(k, g, dom, 0);
    if (isErrno(ret)) {
      k.write(g, 'default_domain', old, underGroup(g.id));
      await freeDomain(k, dom);
      return ret;
    }
  } else {
    for (const dev of k.read(g, 'devices', underGroup(g.id))) {
      const ret = await deviceSetDomain(k, g, dev, dom, null, 0);
      if (isErrno(ret)) {
        k.write(g, 'default_domain', old, underGroup(g.id));
        await freeDomain(k, dom);
        return ret;
      }
    }
    k.write(g, 'domain', dom, underGroup(g.id));
  }
  if (old !== null && old !== dom) await freeDomain(k, old);
  return 0;
});

/**
 * iommu_create_device_direct_mappings(domain, dev): the device's
 * IOMMU_RESV_DIRECT region (the model puts it at RMR_IOVA, backed by page
 * "<dev>-rmr") is mapped 1:1 into a DMA-API domain (iommu_is_dma_domain);
 * already-mapped pages are skipped (iommu_iova_to_phys).
 */
const createDirectMappings = kfunc('iommu_create_device_direct_mappings', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_create_device_direct_mappings' }, async function createDirectMappings(k: IK, domain: string, dev: string): Promise<void> {
  const d = k.state.domains[domain];
  if (d === undefined || d.static || (d.type !== 'dma' && d.type !== 'dma-fq') || d.mappings[String(RMR_IOVA)] !== undefined) return;
  const page = `${dev}-rmr`;
  const ret = await unitCall(k, d.unit, 'map', { domain: d.id, iova: RMR_IOVA, page });
  if (!isErrno(ret)) k.write(d, 'mappings', { ...d.mappings, [String(RMR_IOVA)]: page }, { lockless: true });
});

/**
 * iommu_setup_dma_ops(): DMA API through iommu-dma when the default domain
 * translates; a PCI device starts with pci_32bit_workaround (prefer 32-bit
 * IOVAs) unless iommu.forcedac. Under group->mutex.
 */
export const setupDmaOps = kfunc('iommu_setup_dma_ops', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_setup_dma_ops' }, async function setupDmaOps(k: IK, g: Group, dev: string, link: DeviceLink, di: DevIommu): Promise<void> {
  const def = k.read(g, 'default_domain', underGroup(g.id));
  const type = def === null ? null : k.state.domains[def]?.type ?? null;
  k.write(link, 'dma_iommu', type === 'dma' || type === 'dma-fq', underGroup(g.id));
  if (k.state.specs[dev]?.bus === 'pci') await setDevIommuBit(k, di, 'pci_32bit_workaround', true, G(g.id));
});

/** iommu_group_get(dev): reads dev->iommu_group without locks and takes a reference. */
export const iommu_group_get = kfunc('iommu_group_get', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_group_get' }, function iommu_group_get(k: IK, { dev }: { dev: string }): string | null {
  const g = groupOfDevice(k, dev);
  if (g === null) return null;
  k.get(g.id);
  return g.id;
});

/** iommu_group_put(): the last reference releases the group (iommu_group_release). */
export const iommu_group_put = kfunc('iommu_group_put', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_group_put' }, function iommu_group_put(k: IK, { group }: { group: string }): Ret {
  const g = groupById(k, group);
  if (g === null) {
    k.use(asObj(group), 'iommu_group_put');
    return 0;
  }
  if (k.put(g.id) > 0) return 0;
  if (g.default_domain !== null || g.blocking_domain !== null) {
    k.warn(`iommu_group_release: WARN_ON(group->default_domain || group->blocking_domain) for ${g.id}`);
  }
  delete k.state.groups[g.id];
  const n = Number(g.id.slice('iommu_group.'.length));
  k.state.groupIds[n] = 0;
  k.free(g.id);
  return 0;
});

/**
 * iommu_release_device(): from BUS_NOTIFY_REMOVED_DEVICE, after the driver
 * was unbound. group->mutex only: no probe lock, no device_lock.
 */
export const iommu_release_device = kfunc('iommu_release_device', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_release_device' }, async function iommu_release_device(k: IK, { dev }: { dev: string }): Promise<Ret> {
  const link = k.state.devices[dev];
  if (link === undefined) return 0;
  const g = groupOfDevice(k, dev);
  const diId = k.read(link, 'iommu', { lockless: true });
  const di = diId === null ? undefined : k.state.devIommu[diId];
  if (g === null || di === undefined) return 0;
  await removeUnderGroupMutex(k, g, dev, link, di);
  return 0;
});

/** group->mutex around __iommu_group_remove_device()'s work, then the device's group reference dropped after unlocking. */
async function removeUnderGroupMutex(k: IK, g: Group, dev: string, link: DeviceLink, di: DevIommu): Promise<void> {
  await k.lock(G(g.id));
  try {
    await removeFromGroup(k, g, dev, link, di);
  } finally {
    await k.unlock(G(g.id));
  }
  iommu_group_put(k, { group: g.id });
}

/**
 * __iommu_group_remove_device() → __iommu_group_free_device() →
 * iommu_deinit_device(), under group->mutex. The group reference is
 * dropped by the caller after unlocking.
 */
const removeFromGroup = kfunc('__iommu_group_remove_device', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: __iommu_group_remove_device' }, async function removeFromGroup(k: IK, g: Group, dev: string, link: DeviceLink, di: DevIommu): Promise<void> {
  const devices = k.read(g, 'devices', underGroup(g.id)).filter((d) => d !== dev);
  k.write(g, 'devices', devices, underGroup(g.id));
  if (devices.length === 0) {
    const cnt = k.read(g, 'owner_cnt', underGroup(g.id));
    const dom = k.read(g, 'domain', underGroup(g.id));
    if (cnt !== 0 || dom !== k.read(g, 'default_domain', underGroup(g.id))) {
      k.warn(`__iommu_group_free_device: WARN_ON(group->owner_cnt || group->domain != group->default_domain) for ${g.id}: owner_cnt=${cnt}`);
    }
  }
  // iommu_deinit_device(): park the device on the release domain unless its attach was deferred
  if (!devIommuBit(k, di, 'attach_deferred', G(g.id))) {
    const unit = di.unit;
    const release = devIommuBit(k, di, 'require_direct', G(g.id)) && k.state.domains[identityDomainOf(unit)] !== undefined
      ? identityDomainOf(unit) : `${unit}.blocked_domain`;
    await attachDevice(k, release, dev, k.read(g, 'domain', underGroup(g.id)), g.id);
  }
  await unitCall(k, di.unit, 'release_device', { dev });
  if (devices.length === 0) {
    const def = k.read(g, 'default_domain', underGroup(g.id));
    if (def !== null) {
      await freeDomain(k, def);
      k.write(g, 'default_domain', null, underGroup(g.id));
    }
    const blocking = k.read(g, 'blocking_domain', underGroup(g.id));
    if (blocking !== null) {
      await freeDomain(k, blocking);
      k.write(g, 'blocking_domain', null, underGroup(g.id));
    }
    k.write(g, 'domain', null, underGroup(g.id));
  }
  k.write(link, 'iommu_group', null, underGroup(g.id));
  k.write(link, 'dma_iommu', false, underGroup(g.id));
  devIommuFree(k, link);
});

