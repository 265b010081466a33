import type { LockId, ObjId } from '../../protocol/ids.ts';

/**
 * Convention: a lock (or completion) embedded in a kernel object has the id
 * `<object id>/<role>` — `dev@t0#1/device_lock`, `group@t0#2/mutex`,
 * `vfio_device@t3#4/comp` — the way `dev->mutex` lives inside `struct
 * device`. Locking it touches the object's memory, so a lock event on it
 * after the object was freed is a use-after-free (KASAN reports
 * mutex_lock() on freed memory at the lock word).
 *
 * Object ids may themselves contain '/', so the longest prefix before a '/'
 * that names a known object wins; a lock whose id names no known object is
 * a free-standing lock (a global like `iommu_probe_device_lock`).
 */
export const lockIdFor = (obj: ObjId, role: string): LockId => `${obj}/${role}` as LockId;

export function objectOfLock(id: LockId, known: (obj: ObjId) => boolean): ObjId | null {
  for (let i = id.lastIndexOf('/'); i > 0; i = id.lastIndexOf('/', i - 1)) {
    const obj = id.slice(0, i) as ObjId;
    if (known(obj)) return obj;
  }
  return null;
}
