import type { ActionResult, DriverAction } from './driver-actions.ts';
import type { Call } from './kernel.ts';

/**
 * The driver-core actor's mailbox (drivers/base/): struct device, the bus
 * klists, driver binding. Replies: `Ret` = 0 or an Errno value.
 */
export type DriverCoreMailbox =
  /** Kernel init: driver_register() for every driver, PCI enumeration, platform devices; then completes `system->booted`. */
  | { readonly op: 'boot'; readonly body: null }
  /**
   * How a scenario task runs: waits for boot to complete, then makes the
   * calls one after another (program order) and returns their results.
   */
  | { readonly op: 'after_boot'; readonly body: { readonly calls: readonly Call[] } }
  /**
   * device_add() in the kernel's order (§3.7): klist, BUS_NOTIFY_ADD_DEVICE (IOMMU probe), bus_probe_device().
   * `match: false`: dev->match_driver is false (pci_device_add()), so no driver is probed; pci_bus_add_device()'s
   * device_attach() does it later.
   */
  | { readonly op: 'device_add'; readonly body: { readonly dev: string; readonly match?: boolean } }
  /** device_del(): kill_device, BUS_NOTIFY_DEL_DEVICE, bus_remove_device (unbind), BUS_NOTIFY_REMOVED_DEVICE (IOMMU release). */
  | { readonly op: 'device_del'; readonly body: { readonly dev: string } }
  /** device_unregister() = device_del() + put_device(). */
  | { readonly op: 'device_unregister'; readonly body: { readonly dev: string } }
  | { readonly op: 'device_release_driver'; readonly body: { readonly dev: string } }
  /** sysfs /sys/bus/<bus>/drivers/<driver>/bind. Ret. */
  | { readonly op: 'bind_store'; readonly body: { readonly dev: string; readonly driver: string } }
  /** sysfs .../unbind. Ret (-ENODEV if that driver is not bound). */
  | { readonly op: 'unbind_store'; readonly body: { readonly dev: string; readonly driver: string } }
  /** device_attach(): match and probe a device's driver (bus_probe_device, deferred retry). Ret: 1 bound, 0 no driver, errno. */
  | { readonly op: 'device_attach'; readonly body: { readonly dev: string } }
  /** The async probe work item scheduled by __device_attach() after unlocking. */
  | { readonly op: '__device_attach_async_helper'; readonly body: { readonly dev: string } }
  /** The deferred-probe work item: retries every device on the pending list once. */
  | { readonly op: 'deferred_probe_work_func'; readonly body: null }
  /** driver_deferred_probe_trigger(): what driver_bound() of another device does (an IOMMU's driver that registered its unit). */
  | { readonly op: 'driver_deferred_probe_trigger'; readonly body: null }
  /**
   * bus_for_each_dev(): for each device on the bus klist, makes `fn` with
   * `{ ...fn.body, dev }` holding only a temporary reference; returns the
   * first non-zero (non-null, non-0) callback result, or 0.
   */
  | { readonly op: 'bus_for_each_dev'; readonly body: { readonly bus: 'pci' | 'platform'; readonly fn: Call } }
  | { readonly op: 'get_device'; readonly body: { readonly dev: string } }
  /** A sysfs attribute op of `dev` starts: kernfs_get_active() and a device reference; -ENODEV once device_del() removed the directory. Ret. */
  | { readonly op: 'sysfs_get_device'; readonly body: { readonly dev: string } }
  | { readonly op: 'put_device'; readonly body: { readonly dev: string } }
  /**
   * READ_ONCE(dev->driver) for another actor: one snapshot to derive
   * decisions from. `plain: true` models a plain C read of a field guarded by
   * device_lock without holding it (seed 000's sibling scan), which the race
   * checker reports.
   */
  | { readonly op: 'dev_driver_snapshot'; readonly body: { readonly dev: string; readonly plain?: boolean } }
  /** dev->bus->dma_configure(dev) as iommu_init_device() calls it: no device_lock (the hook reads dev->driver once). Ret. */
  | { readonly op: 'bus_dma_configure'; readonly body: { readonly dev: string } }
  /** dev->p->dead for a caller that holds dev's device_lock: true once device_del() has begun (kill_device). */
  | { readonly op: 'device_is_dead'; readonly body: { readonly dev: string } }
  /**
   * dev->driver->err_handler->reset_prepare / reset_done for the PCI core
   * (pci_dev_save_and_disable / pci_dev_restore): the caller holds
   * device_lock (asserted); the bound driver's actions run in the caller's
   * task. Returns ActionResult[] ([] without a driver or callback).
   */
  | { readonly op: 'pci_err_handler_reset'; readonly body: { readonly dev: string; readonly which: 'reset_prepare' | 'reset_done' } }
  /** Run client actions as `dev`'s bound driver (a work item; no device_lock). Returns ActionResult[]. */
  | { readonly op: 'driver_call'; readonly body: { readonly dev: string; readonly actions: readonly DriverAction[] } }
  /** Run client actions as a module (no device): module init calling iommu_domain_alloc(bus), ... Returns ActionResult[]. */
  | { readonly op: 'module_call'; readonly body: { readonly module: string; readonly actions: readonly DriverAction[] } }
  /** A sysfs attribute read by path (actors/driver-core/sysfs.ts, protocol/sysfs.ts): the text, or an Errno. */
  | { readonly op: 'kernfs_fop_read_iter'; readonly body: { readonly path: string } }
  /**
   * kernfs_remove() of a kobject's directory `dir` from its owner's release path (kobject_del →
   * sysfs_remove_dir): every attribute node under it deactivated and drained; `key` marks the directory removed
   * for a path walk that resolved it before. Ret 0.
   */
  | { readonly op: 'sysfs_remove_dir'; readonly body: { readonly dir: string; readonly key: string } }
  /** kernfs_drain()'s wait_event for the node at `path` (a node being drained). Ret 0. */
  | { readonly op: 'kernfs_drain_wait'; readonly body: { readonly path: string } }
  /** A sysfs attribute write by path: bytes written, or an Errno. */
  | { readonly op: 'kernfs_fop_write_iter'; readonly body: { readonly path: string; readonly value: string } }
  /** Load a topology module (load_module → driver_register of its drivers). Ret (-EEXIST loaded, -ENOENT unknown). */
  | { readonly op: 'load_module'; readonly body: { readonly module: string } }
  /** delete_module(2). Ret (-ENOENT not loaded, -EBUSY not live, -EAGAIN = -EWOULDBLOCK referenced). */
  | { readonly op: 'delete_module'; readonly body: { readonly module: string } }
  /** try_module_get() of the module of dev's bound driver (true for a built-in one). */
  | { readonly op: 'try_module_get_driver'; readonly body: { readonly dev: string } }
  /** module_put() of the module of `driver`. */
  | { readonly op: 'module_put_driver'; readonly body: { readonly driver: string } };

/** dev_driver_snapshot's reply. */
export interface DriverSnapshot {
  readonly driver: string | null;
  readonly driver_managed_dma: boolean;
}

export type { ActionResult };
