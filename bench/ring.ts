import type { Program } from '../runtime/program.ts';
import { actorId, taskId } from '../protocol/ids.ts';

/** `actors` ring actors and `tasks` tasks, each running `laps` laps of `actors` hops. */
export function ringProgram(actors: number, tasks: number, laps: number): Program {
  const ids = Array.from({ length: actors }, (_, i) => actorId(`ring${i}`));
  return {
    name: `ring(${actors}x${tasks}x${laps})`,
    actors: ids.map((id, i) => ({ id, module: 'bench/ring-actor', export: 'ring', config: { next: ids[(i + 1) % actors] } })),
    lockManagers: [],
    tasks: Array.from({ length: tasks }, (_, t) => ({ id: taskId(`t${t}`), to: ids[t % actors] as (typeof ids)[number], op: 'laps', body: { laps, hops: actors } })),
  };
}

/** The same hops as bare in-thread async calls: the floor any actor runtime is measured against. Returns hops·2 (call + return, as steps count them). */
export async function bareRing(actors: number, tasks: number, laps: number): Promise<number> {
  const hop = async (i: number, left: number): Promise<number> => (left === 0 ? 0 : 1 + (await hop((i + 1) % actors, left - 1)));
  const lapsOf = async (start: number): Promise<number> => {
    let n = 0;
    for (let l = 0; l < laps; l++) n += 1 + (await hop((start + 1) % actors, actors - 1));
    return n;
  };
  const counts = await Promise.all(Array.from({ length: tasks }, (_, t) => lapsOf(t % actors)));
  return counts.reduce((a, b) => a + b, 0) * 2;
}
