import { Lockdep } from '../checkers/lockdep/lockdep.ts';
import { SeededRng } from '../runtime/rng.ts';
import type { LockRef, TraceEvent } from '../protocol/events.ts';
import { actorId, lockId, taskId } from '../protocol/ids.ts';
import type { TaskId } from '../protocol/ids.ts';

/**
 * lockdep's own cost: a random workload over `classes` lock classes (tasks
 * take a few classes at a time in one global order, so the graph grows but
 * never closes a cycle) fed straight to the checker. A "new-edge check" is
 * one (held lock → new lock) pair lockdep examines on an acquisition.
 */
export function lockdepEdgesPerSec(classes: number, acquisitions: number, seed = 1): number {
  const rng = new SeededRng(seed);
  const locks: LockRef[] = Array.from({ length: classes }, (_, i) => ({ id: lockId(`L${i}`), cls: `class${i}`, kind: 'mutex' }));
  const tasks: TaskId[] = Array.from({ length: 8 }, (_, i) => taskId(`t${i}`));
  const actor = actorId('bench');
  const stack = ['bench:lockdep'];
  const events: TraceEvent[] = [];
  let checks = 0;
  for (const task of tasks) events.push({ ev: 'task.start', task, actor, stack, parent: null });
  for (let done = 0; done < acquisitions;) {
    const task = tasks[rng.int(tasks.length)] as TaskId;
    const picked = locks.filter(() => rng.chance(4 / classes));
    picked.forEach((lock, held) => {
      events.push({ ev: 'lock.request', task, actor, stack, lock, mode: 'write', try: false });
      events.push({ ev: 'lock.acquired', task, actor, stack, lock, mode: 'write', try: false, ok: true });
      checks += held;
    });
    for (const lock of [...picked].reverse()) events.push({ ev: 'lock.released', task, actor, stack, lock, mode: 'write' });
    done += picked.length;
  }
  const lockdep = new Lockdep();
  const t0 = performance.now();
  events.forEach((e, i) => lockdep.onEvent(e, i));
  const dt = performance.now() - t0;
  if (lockdep.drain().length > 0) throw new Error('the lockdep workload is acyclic by construction, yet lockdep reported');
  return checks / (dt / 1000);
}
