import type { TaskId } from '../protocol/ids.ts';
import type { FreeLog } from '../protocol/wire.ts';

/** One step of the merged order: which actor's log, and the position in it. */
export interface OrderedStep {
  readonly log: number;
  readonly at: number;
}

/**
 * Puts the steps of a free run into one order that controlled mode can
 * replay. Each actor ran its steps one at a time (its log is a total order),
 * and each task's steps are numbered consecutively wherever they ran; any
 * interleaving that keeps both orders replays the same execution, because
 * an actor's behaviour depends only on its own state and the messages it is
 * given. Ties go to the actor listed first, so the merge is deterministic.
 *
 * One more order crosses tasks and actors: a spawned task exists only from
 * the step that spawned it, so its first step must come after that one —
 * in controlled mode it is not enabled before. When the logs keep events
 * the spawn is among them (the parent's `send` of kind `event`, message
 * `<child>#0`) and the merge waits for it.
 *
 * `partial`: the logs of a run that was still moving when they were taken
 * (a task aborted, the time limit) are read one actor after another, so a
 * later actor's log may hold a step whose predecessor ran, after its own
 * actor's log was read, in an earlier one. Then the merge is the longest
 * prefix that is consistent — everything that happened before the run was
 * stopped (the abort and all it depends on) is in it.
 */
export function mergeFreeLogs(logs: readonly FreeLog[], partial = false): OrderedStep[] {
  const pos = logs.map(() => 0);
  const next = new Map<TaskId, number>();
  const spawnedAt = spawnSteps(logs);
  const born = (task: TaskId): boolean => {
    const at = spawnedAt.get(task);
    return at === undefined || (pos[at.log] as number) > at.at;
  };
  const out: OrderedStep[] = [];
  let remaining = logs.reduce((n, l) => n + l.tasks.length, 0);
  while (remaining > 0) {
    let progressed = false;
    for (let a = 0; a < logs.length; a++) {
      const log = logs[a] as FreeLog;
      // take as many consecutive steps of this actor as are due
      for (;;) {
        const i = pos[a] as number;
        const task = log.tasks[i];
        if (task === undefined || log.ns[i] !== (next.get(task) ?? 0)) break;
        if (log.ns[i] === 0 && !born(task)) break;
        out.push({ log: a, at: i });
        next.set(task, (log.ns[i] as number) + 1);
        pos[a] = i + 1;
        remaining--;
        progressed = true;
      }
    }
    if (!progressed) {
      if (partial) return out;
      const heads = logs.map((l, a) => `${l.actor}: ${l.tasks[pos[a] as number] ?? '-'}#${l.ns[pos[a] as number] ?? '-'}`);
      throw new Error(`free-run logs do not merge (a step is missing): heads ${heads.join(', ')}`);
    }
  }
  return out;
}

/** Where each spawned task was spawned: the logged step whose events hold the spawn's `send`. */
function spawnSteps(logs: readonly FreeLog[]): Map<TaskId, OrderedStep> {
  const out = new Map<TaskId, OrderedStep>();
  logs.forEach((l, a) => {
    l.details?.forEach((d, i) => {
      for (const e of d.events) {
        if (e.ev === 'send' && e.kind === 'event') out.set(e.msg.slice(0, e.msg.lastIndexOf('#')) as TaskId, { log: a, at: i });
      }
    });
  });
  return out;
}
