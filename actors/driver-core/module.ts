import { errno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { classLock } from '../../protocol/lock-classes.ts';
import type { BusName } from './state.ts';
import { kfunc } from '../../runtime/kfunc.ts';
import { driverRegister } from './core.ts';
import { deviceReleaseDriverInternal, driverProbeDevice } from './dd.ts';
import { kernfsRemove } from './kernfs.ts';
import { driverSysfsKey, klistDriversLock } from './sysfs.ts';
import { DL, LOCKLESS, deviceOf, getDevice, isFreed, overrideDriver, putDevice, underDevice } from './state.ts';
import type { DK, DeviceDriver, KModule } from './state.ts';

/**
 * Loadable driver modules (kernel/module/main.c) and the driver lifetime
 * they give (drivers/base/bus.c, drivers/base/driver.c, drivers/base/dd.c).
 *
 * A module's drivers live in its memory: the struct device_driver and the
 * name string are objects allocated at load (driver_register) and freed by
 * free_module() after mod->exit() ran driver_unregister(). What keeps a
 * reader of dev->driver->name safe is the order of bus_remove_driver()
 * (the bind files drained, klist_remove under the klist's k_lock, every
 * bound device unbound by driver_detach()) and free_module()'s
 * synchronize_rcu() after it; try_module_get() pins a module against
 * delete_module() (-EWOULDBLOCK while a reference is held).
 */

/** kernel/module/main.c: module_mutex. */
const MODULE_MUTEX = classLock('module_mutex');

const moduleDrivers = (k: DK, name: string): readonly DeviceDriver[] =>
  k.state.topology.drivers.filter((d) => d.module === name).map((d) => k.state.drivers[d.name]).filter((d): d is DeviceDriver => d !== undefined && !d.freed);

/** A module in memory at boot: its struct and its drivers registered by boot's driver_register() pass. */
export function bootModule(k: DK, name: string): void {
  const mod: KModule = { id: k.alloc('module', `module:${name}`), name, state: 'live', refcnt: 0 };
  k.state.mods[name] = mod;
}

/**
 * load_module() → do_init_module(): add_unformed_module() under
 * module_mutex (-EEXIST when a module of that name is loaded), the module
 * COMING; mod->init() = driver_register() of each of its drivers, which
 * attaches the matching devices (bus_add_driver → driver_attach); then LIVE.
 */
export const loadModule = kfunc('load_module', { actor: 'driver-core', source: 'kernel/module/main.c: load_module' }, async function loadModule(k: DK, name: string): Promise<0 | Errno> {
  if (!(k.state.topology.modules ?? []).some((m) => m.name === name)) return errno('ENOENT');
  await k.lock(MODULE_MUTEX);
  if (k.state.mods[name] !== undefined) {
    await k.unlock(MODULE_MUTEX);
    return errno('EEXIST');
  }
  const mod: KModule = { id: k.alloc('module', `module:${name}`), name, state: 'coming', refcnt: 0 };
  k.state.mods[name] = mod;
  await k.unlock(MODULE_MUTEX);
  for (const spec of k.state.topology.drivers) {
    if (spec.module !== name) continue;
    const drv = driverRegister(k, spec);
    if (drv !== null) await driverAttach(k, drv);
  }
  k.write(mod, 'state', 'live', LOCKLESS);
  return 0;
});

/**
 * driver_attach() → bus_for_each_dev(__driver_attach): every device of the
 * bus that matches (its driver_override names this driver) and has no
 * driver is probed under its device_lock. The match is made under the lock
 * here (the kernel matches first, then locks and re-checks dev->driver).
 * Asynchronous drivers are probed in the loading task too.
 */
export const driverAttach = kfunc('driver_attach', { actor: 'driver-core', source: 'drivers/base/dd.c: driver_attach' }, async function driverAttach(k: DK, drv: DeviceDriver): Promise<void> {
  const bus: BusName = drv.spec.bus;
  for (const e of [...k.state.buses[bus].klist_devices]) {
    const dev = deviceOf(k, e.dev);
    if (dev === null || isFreed(k, dev)) continue;
    getDevice(k, dev);
    await k.lock(DL(dev));
    const g = underDevice(dev);
    if (!k.read(dev, 'dead', g) && k.read(dev, 'driver', g) === null && overrideDriver(k, dev) === drv) await driverProbeDevice(k, drv, dev);
    await k.unlock(DL(dev));
    await putDevice(k, dev);
  }
});

/**
 * delete_module(2): under module_mutex, -ENOENT without such a module,
 * -EBUSY unless it is LIVE (still loading, or already going),
 * try_stop_module() -EWOULDBLOCK while try_module_get() references are held;
 * then GOING, mod->exit() (driver_unregister of its drivers) and
 * free_module().
 */
export const deleteModule = kfunc('delete_module', { actor: 'driver-core', source: 'kernel/module/main.c: delete_module' }, async function deleteModule(k: DK, name: string): Promise<0 | Errno> {
  await k.lock(MODULE_MUTEX);
  const mod = k.state.mods[name];
  let ret: 0 | Errno = 0;
  if (mod === undefined) ret = errno('ENOENT');
  else if (k.read(mod, 'state', LOCKLESS) !== 'live') ret = errno('EBUSY');
  else if (k.read(mod, 'refcnt', LOCKLESS) !== 0) ret = errno('EAGAIN'); // try_stop_module: -EWOULDBLOCK (= EAGAIN)
  else k.write(mod, 'state', 'going', LOCKLESS);
  await k.unlock(MODULE_MUTEX);
  if (ret !== 0 || mod === undefined) return ret;
  for (const drv of moduleDrivers(k, name)) await driverUnregister(k, drv);
  await freeModule(k, mod);
  return 0;
});

/** driver_unregister() → bus_remove_driver(). */
export const driverUnregister = kfunc('driver_unregister', { actor: 'driver-core', source: 'drivers/base/driver.c: driver_unregister' }, async function driverUnregister(k: DK, drv: DeviceDriver): Promise<void> {
  await busRemoveDriver(k, drv);
});

/**
 * bus_remove_driver(): remove_bind_files() (bind/unbind drained), the
 * driver's uevent file, klist_remove(&drv->p->knode_bus) under the
 * klist_drivers k_lock, driver_detach(), module_remove_driver().
 */
export const busRemoveDriver = kfunc('bus_remove_driver', { actor: 'driver-core', source: 'drivers/base/bus.c: bus_remove_driver' }, async function busRemoveDriver(k: DK, drv: DeviceDriver): Promise<void> {
  k.state.sysfsRemoved.add(driverSysfsKey(drv.spec.name));
  await kernfsRemove(k, `/sys/bus/${drv.spec.bus}/drivers/${drv.spec.name}/`);
  const lock = klistDriversLock(drv.spec.bus);
  await k.lock(lock);
  k.write(drv, 'klist', false, { guard: lock });
  await k.unlock(lock);
  await driverDetach(k, drv);
});

/**
 * driver_detach(): every device bound to the driver is released
 * (device_release_driver_internal(dev, drv, parent): under device_lock,
 * only if dev->driver is still this driver), so no dev->driver points into
 * the module once it returns.
 */
export const driverDetach = kfunc('driver_detach', { actor: 'driver-core', source: 'drivers/base/dd.c: driver_detach' }, async function driverDetach(k: DK, drv: DeviceDriver): Promise<void> {
  // the driver's own klist_devices, walked from the tail: the devices whose dev->driver is it
  const bound = Object.values(k.state.devices).filter((d) => d.driver === drv.spec.name && !isFreed(k, d)).map((d) => d.name).sort().reverse();
  for (const name of bound) {
    const dev = deviceOf(k, name)!;
    getDevice(k, dev);
    await deviceReleaseDriverInternal(k, dev, drv.spec.name);
    await putDevice(k, dev);
  }
});

/**
 * free_module(): synchronize_rcu() — a spinlock-held section (the
 * klist_drivers k_lock of dev_driver_uevent) is an RCU-sched reader, so the
 * grace period waits for every reader inside one; modelled as taking and
 * dropping those locks — then the module memory (its drivers' structs and
 * strings) is freed.
 */
export const freeModule = kfunc('free_module', { actor: 'driver-core', source: 'kernel/module/main.c: free_module' }, async function freeModule(k: DK, mod: KModule): Promise<void> {
  const drivers = moduleDrivers(k, mod.name);
  for (const bus of [...new Set(drivers.map((d) => d.spec.bus))].sort()) {
    await k.lock(klistDriversLock(bus));
    await k.unlock(klistDriversLock(bus));
  }
  for (const drv of drivers) {
    drv.freed = true;
    if (drv.name_obj !== null) k.free(drv.name_obj);
    k.free(drv.id);
  }
  delete k.state.mods[mod.name];
  k.free(mod.id);
});

/** try_module_get(): a reference unless the module is going (or gone): false then. */
export const tryModuleGet = kfunc('try_module_get', { actor: 'driver-core', source: 'kernel/module/main.c: try_module_get' }, function tryModuleGet(k: DK, name: string | null): boolean {
  if (name === null) return true; // built in: no module to pin
  const mod = k.state.mods[name];
  if (mod === undefined) return false;
  k.use(mod.id, 'try_module_get');
  if (k.read(mod, 'state', LOCKLESS) === 'going') return false;
  k.write(mod, 'refcnt', k.read(mod, 'refcnt', LOCKLESS) + 1, LOCKLESS);
  return true;
});

/** module_put(). */
export const modulePut = kfunc('module_put', { actor: 'driver-core', source: 'kernel/module/main.c: module_put' }, function modulePut(k: DK, mod: KModule): void {
  k.use(mod.id, 'module_put');
  k.write(mod, 'refcnt', k.read(mod, 'refcnt', LOCKLESS) - 1, LOCKLESS);
});
