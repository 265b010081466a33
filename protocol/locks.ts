import type { LockRef } from './events.ts';

/** The lock-manager actors' mailbox. */
export type LockManagerMailbox =
  | { readonly op: 'mutex_lock'; readonly body: { readonly lock: LockRef } }
  | { readonly op: 'mutex_trylock'; readonly body: { readonly lock: LockRef } }
  | { readonly op: 'mutex_unlock'; readonly body: { readonly lock: LockRef } };
