import { defineActor } from '../runtime/actor.ts';
import type { ActorId } from '../protocol/ids.ts';

/**
 * A ring of actors for runtime benchmarks: `lap` sends a call around the
 * ring (each actor calls the next) and the replies unwind back, so one lap
 * of `hops` is 2·hops controlled steps (a delivery each way).
 */
export type RingMailbox =
  | { readonly op: 'hop'; readonly body: { readonly left: number } }
  | { readonly op: 'laps'; readonly body: { readonly laps: number; readonly hops: number } };

interface RingState {
  readonly next: ActorId;
}

export const ring = defineActor<RingState, RingMailbox>('ring', {
  state: (config) => ({ next: (config as { next: ActorId }).next }),
  handlers: {
    async hop(k, { left }) {
      if (left === 0) return 0;
      return 1 + (await k.call<number>(k.state.next, 'hop', { left: left - 1 }));
    },
    async laps(k, { laps, hops }) {
      let n = 0;
      for (let i = 0; i < laps; i++) n += await k.call<number>(k.state.next, 'hop', { left: hops - 1 });
      return n;
    },
  },
});

export default ring;
