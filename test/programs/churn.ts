import { lockManagerSpec } from '../../actors/lock-manager.ts';
import { defineActor } from '../../runtime/actor.ts';
import type { Program } from '../../runtime/program.ts';
import type { LockRef } from '../../protocol/events.ts';
import { actorId, lockId, taskId } from '../../protocol/ids.ts';

/**
 * A busier program for determinism tests: tasks draw from their own rng
 * which locks to take (always in a global order, so it cannot deadlock),
 * use trylock, yield, hop between actors and spawn children.
 */
type ChurnMailbox =
  | { readonly op: 'work'; readonly body: { readonly rounds: number; readonly spawn: boolean } }
  | { readonly op: 'bump'; readonly body: { readonly by: number } };

const LOCKS: readonly LockRef[] = ['L0', 'L1', 'L2'].map((n) => ({ id: lockId(n), cls: n, kind: 'mutex' }));

export const churn = defineActor<{ total: number }, ChurnMailbox>('churn', {
  state: () => ({ total: 0 }),
  handlers: {
    async work(k, { rounds, spawn }) {
      let sum = 0;
      for (let r = 0; r < rounds; r++) {
        const pick = LOCKS.filter(() => k.rng.chance(0.5));
        for (const l of pick) await k.lock(l);
        await k.yield();
        if (await k.trylock(LOCKS[2] as LockRef)) await k.unlock(LOCKS[2] as LockRef);
        sum += await k.call<number>(actorId(k.actor === 'c0' ? 'c1' : 'c0'), 'bump', { by: k.rng.int(10) });
        for (const l of [...pick].reverse()) await k.unlock(l);
        if (spawn && r === 0) k.spawn(k.actor, 'work', { rounds: 1, spawn: false });
      }
      return sum;
    },
    bump(k, { by }) {
      k.state.total += by;
      return k.state.total;
    },
  },
});

export default churn;

export function churnProgram(tasks: number, rounds: number): Program {
  const c0 = actorId('c0');
  const c1 = actorId('c1');
  return {
    name: `churn(${tasks}x${rounds})`,
    actors: [
      { id: c0, module: 'test/programs/churn', export: 'churn' },
      { id: c1, module: 'test/programs/churn', export: 'churn' },
      lockManagerSpec(actorId('locks0')),
      lockManagerSpec(actorId('locks1')),
    ],
    lockManagers: [actorId('locks0'), actorId('locks1')],
    tasks: Array.from({ length: tasks }, (_, i) => ({ id: taskId(`w${i}`), to: i % 2 === 0 ? c0 : c1, op: 'work', body: { rounds, spawn: i === 0 } })),
  };
}
