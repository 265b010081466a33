import { errno, isErrno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { DRIVER_CORE } from '../../protocol/kernel.ts';
import { busDmaCleanup, busDmaConfigure, busFindDeviceByName, busNotify } from './bus.ts';
import { deferredTriggerCount, driverDeferredProbeAdd, driverDeferredProbeDel, driverDeferredProbeTrigger } from './deferred.ts';
import { deviceScope, runProbeActions } from './driver-ops.ts';
import { DEFERRED_PROBE_MUTEX, DL, LOCKLESS, driverOf, getDevice, onceUnderDevice, overrideDriver, putDevice, registeredDriver, underDevice } from './state.ts';
import type { DK, Device, DeviceDriver } from './state.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * Binding and unbinding (drivers/base/dd.c; docs/kernel-facts.md §3.7):
 * __device_attach and its async helper, driver_probe_device,
 * really_probe, device_release_driver, the sysfs bind/unbind stores and the
 * deferred-probe work.
 *
 * Matching: a device matches the driver its driver_override names (the
 * topology's `driver`), if that driver is registered for the device's bus.
 * There is one candidate, so bus_for_each_drv() is that one call.
 */

/**
 * really_probe()'s outcome. The kernel returns core failures negative and
 * the driver's own probe errors positive (so __device_attach_driver can let
 * the next driver try); the model keeps that distinction as `kind`.
 */
export type ProbeRet =
  | { readonly kind: 'bound' }
  | { readonly kind: 'error'; readonly err: Errno }
  | { readonly kind: 'probe-failed'; readonly err: Errno };

const BOUND: ProbeRet = { kind: 'bound' };
const fail = (err: Errno): ProbeRet => ({ kind: 'error', err });

/**
 * really_probe(), entered with device_lock(dev) held:
 * 1. device_links_check_suppliers() → -EPROBE_DEFER: the model's stand-in
 *    for "a resource the driver needs is not there yet" is the driver's
 *    `defer` count, used up per device;
 * 2. device_set_driver(): dev->driver is visible BEFORE DMA is configured;
 * 4. dev->bus->dma_configure(); a failure unwinds without dma_cleanup;
 * 5. driver_sysfs_add() (BUS_NOTIFY_BIND_DRIVER), call_driver_probe();
 * 6. driver_bound();
 * 7. probe failure: BUS_NOTIFY_DRIVER_NOT_BOUND, dma_cleanup,
 *    device_unbind_cleanup().
 */
const reallyProbe = kfunc('really_probe', { actor: 'driver-core', source: 'drivers/base/dd.c: really_probe' }, async function reallyProbe(k: DK, dev: Device, drv: DeviceDriver): Promise<ProbeRet> {
  const g = underDevice(dev);
  const name = drv.spec.name;
  const deferrals = k.read(dev, 'deferrals', g);
  const used = deferrals[name] ?? 0;
  if (used < (drv.spec.defer ?? 0)) {
    k.write(dev, 'deferrals', { ...deferrals, [name]: used + 1 }, g);
    return fail(errno('EPROBE_DEFER'));
  }

  deviceSetDriver(k, dev, name);

  const dma = await busDmaConfigure(k, dev);
  if (isErrno(dma)) {
    // goto pinctrl_bind_failed: device_links_no_driver(), device_unbind_cleanup()
    deviceUnbindCleanup(k, dev);
    return fail(dma);
  }

  await busNotify(k, dev, 'BIND_DRIVER');
  const ret = await runProbeActions(k, deviceScope(k, dev), drv.spec.probe ?? []);
  if (isErrno(ret)) {
    // probe_failed: driver_sysfs_remove(); sysfs_failed: ...
    await busNotify(k, dev, 'DRIVER_NOT_BOUND');
    await busDmaCleanup(k, dev);
    // pinctrl_bind_failed:
    deviceUnbindCleanup(k, dev);
    return { kind: 'probe-failed', err: ret };
  }

  await driverBound(k, dev);
  return BOUND;
});

/** drivers/base/base.h: device_set_driver(): WRITE_ONCE(dev->driver, drv), by a holder of device_lock. */
const deviceSetDriver = kfunc('device_set_driver', { actor: 'driver-core', source: 'drivers/base/base.h: device_set_driver' }, function deviceSetDriver(k: DK, dev: Device, driver: string | null): void {
  k.write(dev, 'driver', driver, onceUnderDevice(dev));
});

/** device_unbind_cleanup(): devres_release_all, dev->driver = NULL, dev_set_drvdata(dev, NULL). */
const deviceUnbindCleanup = kfunc('device_unbind_cleanup', { actor: 'driver-core', source: 'drivers/base/dd.c: device_unbind_cleanup' }, function deviceUnbindCleanup(k: DK, dev: Device): void {
  deviceSetDriver(k, dev, null);
  k.write(dev, 'drvdata', {}, LOCKLESS);
});

/**
 * driver_bound(): onto the driver's klist (device_is_bound() from now on),
 * off the deferred lists, kick the deferred probes (a new driver may be what
 * they waited for), then BUS_NOTIFY_BOUND_DRIVER.
 */
const driverBound = kfunc('driver_bound', { actor: 'driver-core', source: 'drivers/base/dd.c: driver_bound' }, async function driverBound(k: DK, dev: Device): Promise<void> {
  const g = underDevice(dev);
  if (k.read(dev, 'bound', g)) return; // pr_warn("device %s already bound")
  k.write(dev, 'bound', true, g);
  await driverDeferredProbeDel(k, dev);
  await driverDeferredProbeTrigger(k);
  await busNotify(k, dev, 'BOUND_DRIVER');
});

/** __driver_probe_device(), with device_lock held: -ENODEV for a dead or unregistered device, -EBUSY if it has a driver. */
const driverProbeDeviceLocked = kfunc('__driver_probe_device', { actor: 'driver-core', source: 'drivers/base/dd.c: __driver_probe_device' }, async function driverProbeDeviceLocked(k: DK, drv: DeviceDriver, dev: Device): Promise<ProbeRet> {
  const g = underDevice(dev);
  if (k.read(dev, 'dead', g) || !k.read(dev, 'registered')) return fail(errno('ENODEV'));
  if (k.read(dev, 'driver', g) !== null) return fail(errno('EBUSY'));
  return reallyProbe(k, dev, drv);
});

/**
 * driver_probe_device(): __driver_probe_device(), and on -EPROBE_DEFER
 * (either sign) the device goes on the pending list; if a trigger happened
 * while probing, trigger again so the device is not stranded there.
 */
export const driverProbeDevice = kfunc('driver_probe_device', { actor: 'driver-core', source: 'drivers/base/dd.c: driver_probe_device' }, async function driverProbeDevice(k: DK, drv: DeviceDriver, dev: Device): Promise<ProbeRet> {
  const triggerCount = deferredTriggerCount(k);
  const ret = await driverProbeDeviceLocked(k, drv, dev);
  if (ret.kind !== 'bound' && ret.err.errno === 'EPROBE_DEFER') {
    await driverDeferredProbeAdd(k, dev);
    if (triggerCount !== deferredTriggerCount(k)) await driverDeferredProbeTrigger(k);
  }
  return ret;
});

/**
 * driver_allows_async_probing(): PROBE_PREFER_ASYNCHRONOUS (`probe_type:
 * "async"`, or `async: true`) probes in its own async task;
 * PROBE_FORCE_SYNCHRONOUS never; PROBE_DEFAULT_STRATEGY only with the
 * async_probe module parameter or cmdline option, which the model does not
 * have (so: synchronously).
 */
export const driverAllowsAsyncProbing = kfunc('driver_allows_async_probing', { actor: 'driver-core', source: 'drivers/base/dd.c: driver_allows_async_probing' }, function driverAllowsAsyncProbing(_k: DK, drv: DeviceDriver): boolean {
  switch (drv.spec.probe_type) {
    case 'async': return true;
    case 'sync': return false;
    default: return drv.spec.async === true;
  }
});

/**
 * __device_attach(): decides under device_lock; an asynchronous driver is
 * left to __device_attach_async_helper, which is scheduled only AFTER
 * device_unlock() (bug B14: async_schedule_dev may run it inline, and the
 * helper takes device_lock). Returns 1 bound, 0 nothing bound (no driver,
 * async scheduled, or the driver's probe failed), or a core errno.
 */
export const deviceAttach = kfunc('__device_attach', { actor: 'driver-core', source: 'drivers/base/dd.c: __device_attach' }, async function deviceAttach(k: DK, dev: Device, allowAsync: boolean): Promise<1 | 0 | Errno> {
  k.use(dev.id, '__device_attach');
  const g = underDevice(dev);
  let ret: 1 | 0 | Errno = 0;
  let async = false;
  await k.lock(DL(dev));
  if (k.read(dev, 'dead', g)) {
    // out_unlock
  } else if (k.read(dev, 'driver', g) !== null) {
    // dev->driver is only set with this lock held and is bound or cleared
    // before it is dropped, so here device_is_bound() holds (the kernel's
    // device_bind_driver() branch is for drivers that set it by hand).
    ret = k.read(dev, 'bound', g) ? 1 : 0;
  } else {
    const drv = overrideDriver(k, dev);
    if (drv !== null && allowAsync && driverAllowsAsyncProbing(k, drv)) {
      // __device_attach_driver(): check_async && async_allowed != want_async →
      // skipped in the synchronous pass, have_async set
      getDevice(k, dev);
      async = true;
    } else if (drv !== null) {
      const r = await driverProbeDevice(k, drv, dev);
      ret = r.kind === 'bound' ? 1 : r.kind === 'error' ? r.err : 0;
    }
  }
  await k.unlock(DL(dev));
  if (async) k.spawn(DRIVER_CORE, '__device_attach_async_helper', { dev: dev.name });
  return ret;
});

/** bus_probe_device() → device_initial_probe() = __device_attach(dev, true) (no bus interfaces are modelled). */
export const busProbeDevice = kfunc('bus_probe_device', { actor: 'driver-core', source: 'drivers/base/dd.c: bus_probe_device' }, function busProbeDevice(k: DK, dev: Device): Promise<1 | 0 | Errno> {
  return deviceAttach(k, dev, true);
});

/**
 * __device_attach_async_helper(): the device may have been removed or
 * claimed since it was scheduled; probes the asynchronous driver, then
 * drops the reference __device_attach() took for it.
 */
export const deviceAttachAsyncHelper = kfunc('__device_attach_async_helper', { actor: 'driver-core', source: 'drivers/base/dd.c: __device_attach_async_helper' }, async function deviceAttachAsyncHelper(k: DK, dev: Device): Promise<void> {
  const g = underDevice(dev);
  await k.lock(DL(dev));
  if (!k.read(dev, 'dead', g) && k.read(dev, 'driver', g) === null) {
    const drv = overrideDriver(k, dev);
    if (drv !== null && driverAllowsAsyncProbing(k, drv)) await driverProbeDevice(k, drv, dev);
  }
  await k.unlock(DL(dev));
  await putDevice(k, dev);
});

/**
 * device_driver_attach(): device_lock, __driver_probe_device, unlock. Probe
 * errors come back as ordinary negative errnos; -EPROBE_DEFER becomes
 * -EAGAIN (and the device is not put on the deferred list).
 */
const deviceDriverAttach = kfunc('device_driver_attach', { actor: 'driver-core', source: 'drivers/base/dd.c: device_driver_attach' }, async function deviceDriverAttach(k: DK, drv: DeviceDriver, dev: Device): Promise<0 | Errno> {
  await k.lock(DL(dev));
  const r = await driverProbeDeviceLocked(k, drv, dev);
  await k.unlock(DL(dev));
  if (r.kind === 'bound') return 0;
  return r.err.errno === 'EPROBE_DEFER' ? errno('EAGAIN') : r.err;
});

/**
 * __device_release_driver(), with device_lock held: BUS_NOTIFY_UNBIND_DRIVER,
 * device_remove() (the driver's remove), dma_cleanup,
 * device_unbind_cleanup(), klist_remove(knode_driver),
 * BUS_NOTIFY_UNBOUND_DRIVER. No device links (consumers) are modelled, so
 * the unlock/relock loop over busy links never runs.
 */
const deviceReleaseDriverLocked = kfunc('__device_release_driver', { actor: 'driver-core', source: 'drivers/base/dd.c: __device_release_driver' }, async function deviceReleaseDriverLocked(k: DK, dev: Device): Promise<void> {
  const g = underDevice(dev);
  const drv = driverOf(k, k.read(dev, 'driver', g));
  if (drv === null) return;
  await busNotify(k, dev, 'UNBIND_DRIVER');
  await runProbeActions(k, deviceScope(k, dev), drv.spec.remove ?? []); // remove() returns void: errors are ignored
  await busDmaCleanup(k, dev);
  deviceUnbindCleanup(k, dev);
  k.write(dev, 'bound', false, g);
  await busNotify(k, dev, 'UNBOUND_DRIVER');
});

/**
 * device_release_driver_internal(dev, drv, parent): under device_lock,
 * release if `drv` is NULL or still the bound driver. (No bus of the model
 * sets need_parent_lock, so the parent is not locked.)
 */
export const deviceReleaseDriverInternal = kfunc('device_release_driver_internal', { actor: 'driver-core', source: 'drivers/base/dd.c: device_release_driver_internal' }, async function deviceReleaseDriverInternal(k: DK, dev: Device, drv: string | null): Promise<void> {
  k.use(dev.id, 'device_release_driver');
  await k.lock(DL(dev));
  if (drv === null || drv === k.read(dev, 'driver', underDevice(dev))) await deviceReleaseDriverLocked(k, dev);
  await k.unlock(DL(dev));
});

/**
 * sysfs bind_store(): bus_find_device_by_name() on the driver's bus (takes
 * a reference), driver_match_device(), device_driver_attach(), put_device().
 * The model's sysfs bind stands for "echo <drv> > driver_override; echo
 * <dev> > bind", so every driver of the device's bus matches.
 */
export const bindStore = kfunc('bind_store', { actor: 'driver-core', source: 'drivers/base/dd.c: bind_store' }, async function bindStore(k: DK, devName: string, driverName: string): Promise<0 | Errno> {
  const drv = registeredDriver(k, driverName);
  if (drv === null) return errno('ENODEV');
  const dev = await busFindDeviceByName(k, drv.spec.bus, devName);
  if (dev === null) return errno('ENODEV');
  const ret = await deviceDriverAttach(k, drv, dev);
  await putDevice(k, dev);
  return ret;
});

/**
 * sysfs unbind_store(): `dev->driver == drv` is checked without
 * device_lock (a marked read here), then device_driver_detach() =
 * device_release_driver_internal(dev, NULL, parent).
 */
export const unbindStore = kfunc('unbind_store', { actor: 'driver-core', source: 'drivers/base/dd.c: unbind_store' }, async function unbindStore(k: DK, devName: string, driverName: string): Promise<0 | Errno> {
  const drv = registeredDriver(k, driverName);
  if (drv === null) return errno('ENODEV');
  const dev = await busFindDeviceByName(k, drv.spec.bus, devName);
  if (dev === null) return errno('ENODEV');
  let ret: 0 | Errno = errno('ENODEV');
  if (k.read(dev, 'driver', LOCKLESS) === driverName) {
    await deviceReleaseDriverInternal(k, dev, null);
    ret = 0;
  }
  await putDevice(k, dev);
  return ret;
});

/**
 * deferred_probe_work_func(): takes the active list's devices one at a
 * time, each pinned with get_device() while deferred_probe_mutex is dropped
 * for bus_probe_device(); a device that defers again goes back on the
 * pending list (driver_probe_device).
 */
export const deferredProbeWorkFunc = kfunc('deferred_probe_work_func', { actor: 'driver-core', source: 'drivers/base/dd.c: deferred_probe_work_func' }, async function deferredProbeWorkFunc(k: DK): Promise<void> {
  const w = k.state.work;
  k.touches('work');
  w.queued = false;
  w.running = true;
  const d = k.state.deferred;
  const guard = { guard: DEFERRED_PROBE_MUTEX };
  await k.lock(DEFERRED_PROBE_MUTEX);
  for (;;) {
    const active = k.read(d, 'active', guard);
    const first = active[0];
    if (first === undefined) break;
    k.write(d, 'active', active.slice(1), guard);
    const dev = k.state.devices[first];
    if (dev === undefined) continue;
    getDevice(k, dev);
    await k.unlock(DEFERRED_PROBE_MUTEX);
    await busProbeDevice(k, dev);
    await k.lock(DEFERRED_PROBE_MUTEX);
    await putDevice(k, dev);
  }
  await k.unlock(DEFERRED_PROBE_MUTEX);
  k.touches('work');
  w.running = false;
  if (w.queued) k.spawn(DRIVER_CORE, 'deferred_probe_work_func', null);
});
