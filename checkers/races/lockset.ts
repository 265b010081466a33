import type { Access } from './shadow.ts';
import type { HeldLock } from '../held-locks.ts';
import type { LockId } from '../../protocol/ids.ts';

/**
 * The lockset rule (Eraser's, applied per access the way
 * lockdep_assert_held() is applied per function): an access that names a
 * guard must be made with that lock instance held.
 *
 * - `ok`: held in a mode that covers the access, or the access is marked
 *   lockless (an intentional READ_ONCE/WRITE_ONCE, which the race check
 *   still sees), or it names no guard;
 * - `unheld`: the task does not hold the guard at all;
 * - `read-held`: a write under a lock held only for read. A shared hold
 *   (down_read) protects reads of the field, not writes: lockdep's
 *   lockdep_assert_held_write() fails there too. Reads under a shared hold
 *   are fine.
 */
export type LocksetVerdict = 'ok' | 'unheld' | 'read-held';

export function checkLockset(op: 'read' | 'write', guard: LockId | null, lockless: boolean, held: readonly HeldLock[]): LocksetVerdict {
  if (guard === null || lockless) return 'ok';
  let mode: HeldLock['mode'] | null = null;
  // (indexed: a for-of over the frozen list cost about twice as much, once per access)
  for (let i = 0; i < held.length; i++) {
    const h = held[i] as HeldLock;
    if (h.lock.id !== guard) continue;
    if (h.mode === 'write') return 'ok';
    mode = h.mode;
  }
  if (mode === null) return 'unheld';
  return op === 'read' ? 'ok' : 'read-held';
}

/** An access that broke the rule. */
export interface UnguardedHit {
  readonly access: Access;
  readonly guard: LockId;
  readonly verdict: Exclude<LocksetVerdict, 'ok'>;
}
