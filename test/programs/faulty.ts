import { lockManagerSpec } from '../../actors/lock-manager.ts';
import { defineActor } from '../../runtime/actor.ts';
import type { Program } from '../../runtime/program.ts';
import { actorId, taskId } from '../../protocol/ids.ts';

/** Handlers that go wrong in every way the runtime must survive. */
type FaultyMailbox =
  | { readonly op: 'throws'; readonly body: null }
  | { readonly op: 'nested_throw'; readonly body: null }
  | { readonly op: 'dies'; readonly body: null }
  | { readonly op: 'stalls'; readonly body: null }
  | { readonly op: 'to_unknown_actor'; readonly body: null }
  | { readonly op: 'to_unknown_op'; readonly body: null }
  | { readonly op: 'fine'; readonly body: null };

export const faulty = defineActor<null, FaultyMailbox>('faulty', {
  state: () => null,
  handlers: {
    async throws(k) {
      await k.yield();
      throw new Error('boom in a handler');
    },
    async nested_throw(k) {
      return k.call(actorId('faulty'), 'throws', null);
    },
    async dies(k) {
      await k.yield();
      process.exit(7);
    },
    async stalls() {
      await new Promise((r) => setTimeout(r, 60_000).unref());
    },
    async to_unknown_actor(k) {
      return k.call(actorId('nowhere'), 'anything', null);
    },
    async to_unknown_op(k) {
      return k.call(actorId('faulty'), 'no_such_op', null);
    },
    fine: () => 'ok',
  },
});

export default faulty;

/** One task calling `op` on the faulty actor, plus a bystander task. */
export function faultyProgram(op: FaultyMailbox['op']): Program {
  const f = actorId('faulty');
  return {
    name: `faulty(${op})`,
    actors: [
      { id: f, module: 'test/programs/faulty', export: 'faulty' },
      lockManagerSpec(),
    ],
    lockManagers: [actorId('locks')],
    tasks: [
      { id: taskId('victim'), to: f, op, body: null },
      { id: taskId('bystander'), to: f, op: 'fine', body: null },
    ],
  };
}
