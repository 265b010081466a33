/**
 * Single-threaded kernel contexts. Some kernel code only ever runs in one
 * thread of execution, one invocation after the other:
 *
 * - a threaded IRQ handler: `pciehp_ist()` is the IRQ thread of one hotplug
 *   controller (drivers/pci/hotplug/pciehp_hpc.c: request_threaded_irq(...,
 *   pciehp_isr, pciehp_ist, ...)); the IRQ core runs a thread function in
 *   one kthread per action (kernel/irq/manage.c: irq_thread), and a sysfs
 *   disable request is handed to that thread (pciehp_sysfs_disable_slot()
 *   → pciehp_request() and waits for it);
 * - an ordered workqueue (alloc_ordered_workqueue(): max_active 1, one work
 *   item at a time, in queueing order);
 * - a single kthread running its loop.
 *
 * A task of the model that stands for such a context says so with
 * `enterContext(k, id)`; the id names the context instance
 * (`pciehp_ist:<slot>`: one per controller, as each has its own thread).
 * lockdep does not report a cycle whose dependencies were all made by one
 * context (checkers/lockdep, docs/checkers.md): it cannot wait for itself.
 */

/** The IRQ thread of the pciehp controller of `slot`. */
export const pciehpIst = (slot: string): string => `pciehp_ist:${slot}`;

/**
 * A preloaded dependency (protocol/lock-classes.ts KnownDependency) made
 * only by pciehp IRQ threads: `<kind>:*` matches any instance of the kind
 * (the declared order is per class, the threads per controller).
 */
export const PCIEHP_IST_ANY = 'pciehp_ist:*';

/** The kind of a context id or pattern (`pciehp_ist` of `pciehp_ist:<slot>`). Which lock classes a kind only takes its own instance of is said with the class (protocol/lock-classes.ts `ownedBy`). */
export function contextKind(ctx: string): string {
  const i = ctx.indexOf(':');
  return i < 0 ? ctx : ctx.slice(0, i);
}

/** Whether dependency context `c` (maybe a `kind:*` pattern) is context `x`. */
export function contextMatches(c: string, x: string): boolean {
  return c === x || (c.endsWith(':*') && x.startsWith(c.slice(0, -1)));
}

/** From now on (to `null` or the task's end) the task runs as single-threaded context `id`. */
export function enterContext(k: { emit(e: { readonly ev: 'task.context'; readonly context: string | null }): void }, id: string | null): void {
  k.emit({ ev: 'task.context', context: id });
}
