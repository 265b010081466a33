import { kobjectPut } from '../../runtime/kobject.ts';
import { defineActor } from '../../runtime/actor.ts';
import type { Kernel } from '../../runtime/actor.ts';
import type { LockRef } from '../../protocol/events.ts';
import { lockId } from '../../protocol/ids.ts';
import type { ObjId } from '../../protocol/ids.ts';

/**
 * The lifetime checker's test actor: a bus with a device list, devices
 * with a kref, and the handler shapes that get lifetimes wrong. Objects are
 * allocated by a setup task that then spawns the concurrent tasks, so the
 * setup happens before all of them.
 */

export interface Dev {
  readonly id: ObjId;
  driver: string | null;
}

export interface LifetimeActorConfig {
  /** CONFIG_DEBUG_KOBJECT_RELEASE: delay device releases by a seeded number of steps. */
  readonly debugKobjectRelease?: boolean;
}

export interface LifetimeState {
  readonly debugRelease: boolean;
  /** The bus's klist_devices, in order; each entry holds one reference (the bus's). */
  readonly bus: Dev[];
}

export interface SpawnSpec {
  readonly op: LifetimeMailbox['op'];
}

export type LifetimeMailbox =
  | { readonly op: 'setup_bus'; readonly body: { readonly devices: number; readonly spawn: readonly SpawnSpec[] } }
  | { readonly op: 'bus_remove_device'; readonly body: null }
  | { readonly op: 'iommu_domain_alloc'; readonly body: null }
  | { readonly op: 'iommu_domain_alloc_ref'; readonly body: null }
  | { readonly op: 'queue_notify_then_free'; readonly body: null }
  | { readonly op: 'vfio_notify_work'; readonly body: { readonly dev: ObjId } }
  | { readonly op: 'probe_error_path'; readonly body: null }
  | { readonly op: 'attach_leaks_ref'; readonly body: null }
  | { readonly op: 'attach_balanced'; readonly body: null };

/** The bus's klist lock (klist_devices.k_lock): held only while stepping, as in lib/klist.c. */
const KLIST: LockRef = { id: lockId('bus/klist_devices'), cls: 'klist->k_lock', kind: 'mutex' };

/** kobject_put() whose release (device_release() and friends) frees the object; delayed under DEBUG_KOBJECT_RELEASE. */
function putRef(k: Kernel<LifetimeState>, obj: Dev): Promise<number> {
  return kobjectPut(k, obj.id, (kk) => kk.free(obj.id), { enabled: k.state.debugRelease });
}

/**
 * bus_for_each_dev() with a callback: the iterator pins the current device
 * (klist_devices_get) only while the callback runs and drops it when it
 * moves on (klist_devices_put). `keepRef` is the callback taking its own
 * reference (get_device) for the device it returns.
 */
async function busFindDevice(k: Kernel<LifetimeState>, keepRef: boolean): Promise<Dev | null> {
  let found: Dev | null = null;
  for (let i = 0; ; i++) {
    await k.lock(KLIST);
    const dev = k.state.bus[i];
    if (dev !== undefined) k.get(dev.id);
    await k.unlock(KLIST);
    if (dev === undefined) break;
    // the callback (__iommu_domain_alloc_dev in seed 004): looks at the device, remembers it
    k.use(dev.id, 'bus_for_each_dev callback');
    if (found === null) {
      found = dev;
      if (keepRef) k.get(dev.id);
    }
    await putRef(k, dev);
  }
  return found;
}

export const lifetimeApp = defineActor<LifetimeState, LifetimeMailbox>('check-lifetime', {
  state: (config) => ({ debugRelease: (config as LifetimeActorConfig | undefined)?.debugKobjectRelease ?? false, bus: [] }),
  handlers: {
    setup_bus(k, { devices, spawn }) {
      for (let i = 0; i < devices; i++) k.state.bus.push({ id: k.alloc('device'), driver: 'pcieport' });
      for (const s of spawn) k.spawn(k.actor, s.op, null);
    },

    // device_del() → bus_remove_device(): off the list, then the bus's reference is dropped.
    async bus_remove_device(k) {
      await k.lock(KLIST);
      const dev = k.state.bus.shift();
      await k.unlock(KLIST);
      if (dev !== undefined) await putRef(k, dev);
    },

    // Seed 004: iommu_domain_alloc(bus) finds a device with bus_for_each_dev() and uses it after the walk.
    async iommu_domain_alloc(k) {
      const dev = await busFindDevice(k, false);
      if (dev === null) return null;
      await k.yield();
      return k.read(dev, 'driver');
    },

    // The reviewer's shape: hold a reference of our own for as long as we use the device.
    async iommu_domain_alloc_ref(k) {
      const dev = await busFindDevice(k, true);
      if (dev === null) return null;
      await k.yield();
      const drv = k.read(dev, 'driver');
      await putRef(k, dev);
      return drv;
    },

    // queue_work(&vdev->work) then kfree(vdev) without cancel_work_sync(): the work runs on freed memory.
    async queue_notify_then_free(k) {
      const dev: Dev = { id: k.alloc('vfio_device'), driver: 'vfio-pci' };
      k.spawn(k.actor, 'vfio_notify_work', { dev: dev.id });
      await putRef(k, dev);
    },
    vfio_notify_work(k, { dev }) {
      k.use(dev, 'vfio_notify_work message');
    },

    // A put in the error path and another in the caller: the second takes the count below zero.
    async probe_error_path(k) {
      const group: Dev = { id: k.alloc('iommu_group'), driver: null };
      await putRef(k, group);
      await putRef(k, group);
    },

    // A get for an attach whose error path forgets the put: the owner's put leaves 1.
    async attach_leaks_ref(k) {
      const domain: Dev = { id: k.alloc('iommu_domain'), driver: null };
      k.get(domain.id);
      await putRef(k, domain);
    },

    async attach_balanced(k) {
      const domain: Dev = { id: k.alloc('iommu_domain'), driver: null };
      k.get(domain.id);
      await putRef(k, domain);
      await putRef(k, domain);
    },
  },
  inspect: (s) => ({ bus: s.bus.map((d) => d.id) }),
});

export default lifetimeApp;
