import { defineActor } from '../../runtime/actor.ts';
import type { Kernel } from '../../runtime/actor.ts';
import type { LockRef } from '../../protocol/events.ts';
import { objId } from '../../protocol/ids.ts';

/**
 * The locking selftest's only actor: it runs small scripts of lock
 * operations, the way lib/locking-selftest.c strings together L(X1), U(Y1)…
 * A task runs its script, then spawns the next script as a new task, so the
 * tasks of one case run strictly one after another: what lockdep reports
 * there is prediction, not a lucky schedule.
 */

export type LockStepOp =
  | 'lock' | 'trylock' | 'unlock'
  | 'down_read' | 'down_read_recursive' | 'down_write' | 'down_read_trylock' | 'down_write_trylock' | 'up_read' | 'up_write'
  | 'assert_held' | 'assert_not_held' | 'is_locked';

export type ScriptStep =
  | { readonly op: LockStepOp; readonly lock: LockRef }
  /** mutex_lock_nested(lock, sub) through k.lock_nested. */
  | { readonly op: 'lock_nested'; readonly lock: LockRef; readonly sub: number }
  | { readonly op: 'wait_for_completion' | 'wait_for_completion_timeout' | 'complete' | 'complete_all'; readonly completion: LockRef }
  /** kzalloc / kfree of an object named `obj` (its locks are "obj->member"). */
  | { readonly op: 'alloc' | 'free'; readonly obj: string }
  | { readonly op: 'yield' }
  /** Starts `scripts` as a new task now (it runs them one after another), and goes on. */
  | { readonly op: 'spawn'; readonly scripts: readonly Script[] };

export type Script = readonly ScriptStep[];

export type SelftestMailbox = {
  readonly op: 'run';
  /** The first script runs in this task; the rest are handed on to a spawned task at the end. */
  readonly body: { readonly scripts: readonly Script[] };
};

/** Runs one step; returns what a test may want to see ("trylock(A)=false"), or null. */
async function runStep(k: Kernel<null>, s: ScriptStep): Promise<string | null> {
  switch (s.op) {
    case 'lock':
      await k.lock(s.lock);
      return null;
    case 'lock_nested':
      await k.lock_nested(s.lock, s.sub);
      return null;
    case 'trylock':
      return `trylock(${s.lock.id})=${String(await k.trylock(s.lock))}`;
    case 'unlock':
      await k.unlock(s.lock);
      return null;
    case 'down_read':
      await k.down_read(s.lock);
      return null;
    case 'down_read_recursive':
      await k.down_read_recursive(s.lock);
      return null;
    case 'down_write':
      await k.down_write(s.lock);
      return null;
    case 'down_read_trylock':
      return `down_read_trylock(${s.lock.id})=${String(await k.down_read_trylock(s.lock))}`;
    case 'down_write_trylock':
      return `down_write_trylock(${s.lock.id})=${String(await k.down_write_trylock(s.lock))}`;
    case 'up_read':
      await k.up_read(s.lock);
      return null;
    case 'up_write':
      await k.up_write(s.lock);
      return null;
    case 'assert_held':
      return `assert_held(${s.lock.id})=${String(await k.assertHeld(s.lock))}`;
    case 'assert_not_held':
      return `assert_not_held(${s.lock.id})=${String(await k.assertNotHeld(s.lock))}`;
    case 'is_locked':
      return `is_locked(${s.lock.id})=${String(await k.isLocked(s.lock))}`;
    case 'wait_for_completion':
      await k.wait_for_completion(s.completion);
      return null;
    case 'wait_for_completion_timeout':
      return `wait_for_completion_timeout(${s.completion.id})=${String(await k.wait_for_completion_timeout(s.completion))}`;
    case 'complete':
      await k.complete(s.completion);
      return null;
    case 'complete_all':
      await k.complete_all(s.completion);
      return null;
    case 'alloc':
      k.alloc('selftest-object', s.obj);
      return null;
    case 'free':
      k.free(objId(s.obj));
      return null;
    case 'yield':
      await k.yield();
      return null;
    case 'spawn':
      return `spawn=${k.spawn(k.actor, 'run', { scripts: s.scripts })}`;
  }
}

export const selftestActor = defineActor<null, SelftestMailbox>('locking-selftest', {
  state: () => null,
  handlers: {
    async run(k, { scripts }) {
      const [first, ...rest] = scripts;
      const log: string[] = [];
      for (const s of first ?? []) {
        const r = await runStep(k, s);
        if (r !== null) log.push(r);
      }
      if (rest.length > 0) log.push(`spawn=${k.spawn(k.actor, 'run', { scripts: rest })}`);
      return log;
    },
  },
});

export default selftestActor;
