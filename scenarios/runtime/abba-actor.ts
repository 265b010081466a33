import { defineActor } from '../../runtime/actor.ts';
import type { LockRef } from '../../protocol/events.ts';
import { lockId } from '../../protocol/ids.ts';

/**
 * The runtime's own test program: each task takes two mutexes in the order
 * it is given, with a preemption point between them. Given opposite orders
 * (ABBA) some schedules deadlock; given the same order none does.
 */
export type AbbaMailbox = {
  readonly op: 'take_two';
  readonly body: { readonly first: string; readonly second: string };
};

export const mutexRef = (name: string): LockRef => ({ id: lockId(name), cls: name, kind: 'mutex' });

export const app = defineActor<null, AbbaMailbox>('abba-app', {
  state: () => null,
  handlers: {
    async take_two(k, { first, second }) {
      const a = mutexRef(first);
      const b = mutexRef(second);
      await k.lock(a);
      await k.yield();
      await k.lock(b);
      await k.unlock(b);
      await k.unlock(a);
      return 'done';
    },
  },
});

export default app;
