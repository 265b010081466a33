import type { LockRef } from '../../protocol/events.ts';
import { lockId } from '../../protocol/ids.ts';
import { DRIVER_CORE } from '../../protocol/kernel.ts';
import type { LockClassName } from '../../protocol/lock-classes.ts';
import { SYSFS_ATTRS } from '../../protocol/sysfs.ts';
import type { SysfsAttrName } from '../../protocol/sysfs.ts';
import { kfunc } from '../../runtime/kfunc.ts';
import type { DK } from './state.ts';

/**
 * kernfs as the driver core's sysfs attributes use it (fs/kernfs/dir.c,
 * fs/kernfs/file.c, 7.0):
 *
 * - a node's **active reference** (`kn->active`): kernfs_get_active() is
 *   atomic_inc_unless_negative() — it fails once the node is deactivated —
 *   and, with a lockdep map, rwsem_acquire_read(&kn->dep_map, 0, 1) (a
 *   read trylock: no dependency into it, but locks taken under it depend on
 *   it); kernfs_put_active() releases the map and wakes the drainers when
 *   the count reaches the bias;
 * - **kernfs_drain()** (from __kernfs_remove, after the node was
 *   deactivated): skipped when the count has already drained ("avoids
 *   draining and its lockdep annotations for nodes which have never been
 *   activated"); otherwise rwsem_acquire(&kn->dep_map) — a *write*
 *   acquisition, so every lock the remover holds now depends on kn->active —
 *   then wait_event() until the active count drains, lock_acquired,
 *   rwsem_release.
 *
 * The count is state of the driver-core actor (a node's `active`); the
 * lockdep map is the same events the lock manager would emit for a rwsem
 * (lock.request / lock.acquired / lock.released), emitted here because the
 * kernel's is an annotation on an atomic, not a lock anybody sleeps on: the
 * wait is a wait queue of this actor (`deactivate_waitq`), whose sleeper the
 * deadlock checker sees blocked on the node's map.
 *
 * Nodes are made when first looked up, while their directory exists (the
 * device is registered and device_del() has not removed its attributes; the
 * driver is on its bus's klist): that is when sysfs_create_file() would have
 * made them, and a node nobody opened drains without waiting anyway.
 */

export interface KernfsNode {
  readonly path: string;
  readonly attr: SysfsAttrName;
  /** kn->dep_map; null for *_IGNORE_LOCKDEP attributes (kernfs_lockdep() false). */
  readonly map: LockRef | null;
  /** Active references held (kn->active above KN_DEACTIVATED_BIAS's offset). */
  active: number;
  /** KN_DEACTIVATED_BIAS added: kernfs_get_active() fails from now on. */
  deactivated: boolean;
  /** Removed by kernfs_remove_self() (the `remove` attribute writing itself away). */
  removed: boolean;
  /** Tasks asleep in kernfs_drain() on this node. */
  drainers: number;
}

const ACTIVE_CLASS: Readonly<Partial<Record<SysfsAttrName, LockClassName>>> = {
  uevent: 'kn->active#uevent',
  driver_override: 'kn->active#driver_override',
  reset: 'kn->active#reset',
  type: 'kn->active#type',
};

/** kn->dep_map of an attribute node, or null without one. */
export function activeMap(path: string, attr: SysfsAttrName): LockRef | null {
  const cls = ACTIVE_CLASS[attr];
  if (!SYSFS_ATTRS[attr].lockdep || cls === undefined) return null;
  return { id: lockId(`kn:${path}`), cls, kind: 'rwsem' };
}

/** The wait queue of kernfs_root->deactivate_waitq, per node (a wake-up re-checks only this node's count). */
const waitq = (kn: KernfsNode): string => `kernfs:${kn.path}:deactivate_waitq`;

/** The node of `path` (made while `live`), or null: no such file. */
export function kernfsNode(k: DK, path: string, attr: SysfsAttrName, live: boolean): KernfsNode | null {
  // the node table and each node's count and flags are kernfs bookkeeping no kernel-object event describes (dfs: k.touches)
  k.touches(`kernfs:${path}`);
  const kn = k.state.kernfs[path];
  if (kn !== undefined && !kn.removed) return kn;
  if (!live) return null;
  const made: KernfsNode = { path, attr, map: activeMap(path, attr), active: 0, deactivated: false, removed: false, drainers: 0 };
  k.state.kernfs[path] = made;
  return made;
}

/** kernfs_get_active(): false once the node is deactivated. */
export const kernfsGetActive = kfunc('kernfs_get_active', { actor: 'driver-core', source: 'fs/kernfs/dir.c: kernfs_get_active' }, function kernfsGetActive(k: DK, kn: KernfsNode): boolean {
  k.touches(`kernfs:${kn.path}`);
  if (kn.deactivated) return false;
  kn.active++;
  if (kn.map !== null) {
    k.emit({ ev: 'lock.request', lock: kn.map, mode: 'read', try: true });
    k.emit({ ev: 'lock.acquired', lock: kn.map, mode: 'read', try: true, ok: true });
  }
  return true;
});

/** kernfs_put_active(): the last reference of a deactivated node wakes its drainers. */
export const kernfsPutActive = kfunc('kernfs_put_active', { actor: 'driver-core', source: 'fs/kernfs/dir.c: kernfs_put_active' }, function kernfsPutActive(k: DK, kn: KernfsNode): void {
  k.touches(`kernfs:${kn.path}`);
  if (kn.map !== null) k.emit({ ev: 'lock.released', lock: kn.map, mode: 'read' });
  kn.active--;
  if (kn.active === 0 && kn.drainers > 0) k.setReady(waitq(kn), true);
});

/**
 * kernfs_drain(): wait for the active references of a deactivated node.
 * Several removers may drain one node; all return once it has drained.
 */
export const kernfsDrain = kfunc('kernfs_drain', { actor: 'driver-core', source: 'fs/kernfs/dir.c: kernfs_drain' }, async function kernfsDrain(k: DK, kn: KernfsNode): Promise<void> {
  if (kn.active === 0) return; // already drained: no wait, no lockdep annotation
  if (kn.map !== null) k.emit({ ev: 'lock.request', lock: kn.map, mode: 'write', try: false });
  // the wait_event() runs as a call of this actor, so a task blocked in it carries the drain's call chain
  k.touches(`draining:${kn.path}`);
  k.state.draining[kn.path] = kn;
  await k.call(DRIVER_CORE, 'kernfs_drain_wait', { path: kn.path });
  k.touches(`draining:${kn.path}`);
  if (kn.drainers === 0 && k.state.draining[kn.path] === kn) delete k.state.draining[kn.path];
  if (kn.map !== null) {
    k.emit({ ev: 'lock.acquired', lock: kn.map, mode: 'write', try: false, ok: true });
    k.emit({ ev: 'lock.released', lock: kn.map, mode: 'write' });
  }
});

/** kernfs_drain()'s wait_event(root->deactivate_waitq, atomic_read(&kn->active) == KN_DEACTIVATED_BIAS). */
export async function kernfsDrainWait(k: DK, path: string): Promise<0> {
  k.touches(`draining:${path}`);
  const kn = k.state.draining[path];
  if (kn === undefined) return 0;
  while (kn.active > 0) {
    kn.drainers++;
    await k.sleep(waitq(kn), `kernfs_drain ${kn.path}`, kn.map ?? undefined);
    k.touches(`draining:${path}`);
    kn.drainers--;
  }
  if (kn.drainers === 0) k.setReady(waitq(kn), false);
  return 0;
}

/**
 * __kernfs_remove() of a directory's attribute nodes: deactivate every one
 * first (no new active references), then drain each in turn
 * (kernfs_remove → __kernfs_remove → kernfs_drain).
 */
export const kernfsRemove = kfunc('__kernfs_remove', { actor: 'driver-core', source: 'fs/kernfs/dir.c: __kernfs_remove' }, async function kernfsRemove(k: DK, prefix: string): Promise<void> {
  const nodes: KernfsNode[] = [];
  for (const path of Object.keys(k.state.kernfs).sort()) {
    if (!path.startsWith(prefix)) continue;
    k.touches(`kernfs:${path}`);
    const kn = k.state.kernfs[path]!;
    kn.deactivated = true;
    delete k.state.kernfs[path];
    nodes.push(kn);
  }
  for (const kn of nodes) await kernfsDrain(k, kn);
});

/**
 * kernfs_remove_self() (sysfs_remove_file_self, from an attribute's own
 * store): kernfs_break_active_protection() — the caller's active reference
 * no longer counts, so draining the node does not wait for the very store
 * that removes it — then the node is deactivated and removed. Only the first
 * of concurrent callers gets true; kernfs_unbreak_active_protection() takes
 * the reference back before the store returns.
 */
export const kernfsRemoveSelf = kfunc('kernfs_remove_self', { actor: 'driver-core', source: 'fs/kernfs/dir.c: kernfs_remove_self' }, function kernfsRemoveSelf(k: DK, kn: KernfsNode): boolean {
  k.touches(`kernfs:${kn.path}`);
  if (kn.removed || kn.deactivated) return false;
  kn.deactivated = true;
  kn.removed = true;
  if (k.state.kernfs[kn.path] === kn) delete k.state.kernfs[kn.path];
  return true;
});

/** kernfs_break_active_protection(): the store's own reference stops counting for drainers. */
export const kernfsBreakActiveProtection = kfunc('kernfs_break_active_protection', { actor: 'driver-core', source: 'fs/kernfs/dir.c: kernfs_break_active_protection' }, function kernfsBreakActiveProtection(k: DK, kn: KernfsNode): void {
  kernfsPutActive(k, kn);
});

/** kernfs_unbreak_active_protection(): atomic_inc(&kn->active) back (and the map, trylock-style), even on a deactivated node. */
export const kernfsUnbreakActiveProtection = kfunc('kernfs_unbreak_active_protection', { actor: 'driver-core', source: 'fs/kernfs/dir.c: kernfs_unbreak_active_protection' }, function kernfsUnbreakActiveProtection(k: DK, kn: KernfsNode): void {
  k.touches(`kernfs:${kn.path}`);
  kn.active++;
  if (kn.map !== null) {
    k.emit({ ev: 'lock.request', lock: kn.map, mode: 'read', try: true });
    k.emit({ ev: 'lock.acquired', lock: kn.map, mode: 'read', try: true, ok: true });
  }
});

/** The of->mutex of a new open file (kernfs_fop_open: mutex_init per struct kernfs_open_file). */
export function openFileMutex(k: DK): LockRef {
  k.touches('openSeq'); // the counter naming open files' instances
  const n = ++k.state.openSeq;
  return { id: lockId(`kernfs_open_file#${n}->mutex`), cls: 'of->mutex', kind: 'mutex' };
}

/** The seq_file's m->lock of a new open file (seq_open, from kernfs_fop_open for a file with show). */
export function seqFileLock(k: DK): LockRef {
  return { id: lockId(`seq_file#${k.state.openSeq}->lock`), cls: 'seq_file->lock', kind: 'mutex' };
}
