import { DRIVER_CORE } from '../../protocol/kernel.ts';
import { DEFERRED_PROBE_MUTEX, LOCKLESS } from './state.ts';
import type { DK, Device } from './state.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * Deferred probing (drivers/base/dd.c): a probe that returns -EPROBE_DEFER
 * puts the device on the pending list; every successful bind moves the
 * pending list to the active list and queues deferred_probe_work, which
 * retries the active devices one by one (deferred_probe_work_func, in dd.ts).
 */

const guard = { guard: DEFERRED_PROBE_MUTEX };

/** driver_deferred_probe_add(): onto the pending list unless already on a list (list_empty(&dev->p->deferred_probe)). */
export const driverDeferredProbeAdd = kfunc('driver_deferred_probe_add', { actor: 'driver-core', source: 'drivers/base/dd.c: driver_deferred_probe_add' }, async function driverDeferredProbeAdd(k: DK, dev: Device): Promise<void> {
  const d = k.state.deferred;
  await k.lock(DEFERRED_PROBE_MUTEX);
  const pending = k.read(d, 'pending', guard);
  if (!pending.includes(dev.name) && !k.read(d, 'active', guard).includes(dev.name)) k.write(d, 'pending', [...pending, dev.name], guard);
  await k.unlock(DEFERRED_PROBE_MUTEX);
});

/** driver_deferred_probe_del(): off whichever list the device is on (driver_bound(), device_del()). */
export const driverDeferredProbeDel = kfunc('driver_deferred_probe_del', { actor: 'driver-core', source: 'drivers/base/dd.c: driver_deferred_probe_del' }, async function driverDeferredProbeDel(k: DK, dev: Device): Promise<void> {
  const d = k.state.deferred;
  await k.lock(DEFERRED_PROBE_MUTEX);
  const pending = k.read(d, 'pending', guard);
  if (pending.includes(dev.name)) k.write(d, 'pending', pending.filter((n) => n !== dev.name), guard);
  const active = k.read(d, 'active', guard);
  if (active.includes(dev.name)) k.write(d, 'active', active.filter((n) => n !== dev.name), guard);
  await k.unlock(DEFERRED_PROBE_MUTEX);
});

/** atomic_read(&deferred_trigger_count). */
export function deferredTriggerCount(k: DK): number {
  return k.read(k.state.deferred, 'trigger_count', LOCKLESS);
}

/**
 * driver_deferred_probe_trigger(): nothing before deferred_probe_initcall()
 * enabled it; then, under the mutex, bump the trigger count and splice the
 * pending list onto the active list, and queue the work.
 */
export const driverDeferredProbeTrigger = kfunc('driver_deferred_probe_trigger', { actor: 'driver-core', source: 'drivers/base/dd.c: driver_deferred_probe_trigger' }, async function driverDeferredProbeTrigger(k: DK): Promise<void> {
  if (!k.state.deferredEnabled) return;
  const d = k.state.deferred;
  await k.lock(DEFERRED_PROBE_MUTEX);
  // atomic_inc(): a marked write (atomic_read() reads it without the mutex)
  k.write(d, 'trigger_count', k.read(d, 'trigger_count', guard) + 1, { ...guard, lockless: true });
  const pending = k.read(d, 'pending', guard);
  const active = k.read(d, 'active', guard);
  if (pending.length > 0) {
    k.write(d, 'active', [...active, ...pending], guard);
    k.write(d, 'pending', [], guard);
  }
  const work = active.length + pending.length > 0;
  await k.unlock(DEFERRED_PROBE_MUTEX);
  // queue_work(system_unbound_wq, &deferred_probe_work). An empty active
  // list makes the work a no-op, so it is not queued then (fewer tasks).
  if (work) queueDeferredProbeWork(k);
});

/**
 * queue_work() of the one deferred_probe_work item: a no-op while it is
 * pending; while it runs, it is marked pending and runs again afterwards
 * (a work item never runs concurrently with itself).
 */
export const queueDeferredProbeWork = kfunc('queue_work', { actor: 'driver-core', source: 'drivers/base/dd.c: queue_work' }, function queueDeferredProbeWork(k: DK): void {
  const w = k.state.work;
  // the work item's pending bit (test_and_set_bit in __queue_work): no lock orders it
  k.touches('work');
  if (w.queued) return;
  w.queued = true;
  if (!w.running) k.spawn(DRIVER_CORE, 'deferred_probe_work_func', null);
});
