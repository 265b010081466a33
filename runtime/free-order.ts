import type { ActorId, TaskId } from '../protocol/ids.ts';
import type { FreeLog, FreeLogEntry } from '../protocol/wire.ts';

export interface OrderedStep {
  readonly actor: ActorId;
  readonly entry: FreeLogEntry;
}

/**
 * Puts the steps of a free run into one order that controlled mode can
 * replay. Each actor ran its steps one at a time (its log is a total order),
 * and each task's steps are numbered consecutively wherever they ran; any
 * interleaving that keeps both orders replays the same execution, because
 * an actor's behaviour depends only on its own state and the messages it is
 * given. Ties go to the actor listed first, so the merge is deterministic.
 */
export function mergeFreeLogs(logs: readonly FreeLog[]): OrderedStep[] {
  const pos = logs.map(() => 0);
  const next = new Map<TaskId, number>();
  const out: OrderedStep[] = [];
  let remaining = logs.reduce((n, l) => n + l.entries.length, 0);
  while (remaining > 0) {
    let progressed = false;
    for (let a = 0; a < logs.length; a++) {
      const log = logs[a] as FreeLog;
      // take as many consecutive steps of this actor as are due
      for (;;) {
        const e = log.entries[pos[a] as number];
        if (e === undefined || e.n !== (next.get(e.task) ?? 0)) break;
        out.push({ actor: log.actor, entry: e });
        next.set(e.task, e.n + 1);
        pos[a] = (pos[a] as number) + 1;
        remaining--;
        progressed = true;
      }
    }
    if (!progressed) {
      const heads = logs.map((l, a) => `${l.actor}: ${l.entries[pos[a] as number]?.task ?? '-'}#${l.entries[pos[a] as number]?.n ?? '-'}`);
      throw new Error(`free-run logs do not merge (a step is missing): heads ${heads.join(', ')}`);
    }
  }
  return out;
}
