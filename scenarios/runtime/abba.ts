import { lockManagerSpec } from '../../actors/lock-manager.ts';
import type { Program } from '../../runtime/program.ts';
import { actorId, taskId } from '../../protocol/ids.ts';

export type AbbaOrder = 'abba' | 'ordered';

/** Two tasks taking mutexes A and B: in opposite orders (`abba`) or the same order (`ordered`). */
export function abbaProgram(order: AbbaOrder): Program {
  const app = actorId('app');
  return {
    name: `abba(${order})`,
    actors: [
      { id: app, module: 'scenarios/runtime/abba-actor', export: 'app' },
      lockManagerSpec(),
    ],
    lockManagers: [actorId('locks')],
    tasks: [
      { id: taskId('t1'), to: app, op: 'take_two', body: { first: 'A', second: 'B' } },
      { id: taskId('t2'), to: app, op: 'take_two', body: order === 'abba' ? { first: 'B', second: 'A' } : { first: 'A', second: 'B' } },
    ],
  };
}
