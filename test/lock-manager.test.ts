import { describe, expect, it } from 'vitest';
import { LockStats } from '../checkers/lock-stats.ts';
import type { Checker } from '../checkers/checker.ts';
import { runExecution } from '../runtime/execution.ts';
import type { ExecutionResult } from '../runtime/execution.ts';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { RandomStrategy } from '../runtime/strategies/random.ts';
import type { Strategy } from '../runtime/strategies/strategy.ts';
import type { Script, ScriptStep } from '../scenarios/selftest/actor.ts';
import { selftestProgram } from '../scenarios/selftest/cases.ts';
import type { LockRef, TraceEvent } from '../protocol/events.ts';
import { completionRef, mutexRef, rwsemRef } from '../protocol/lock-classes.ts';

// ---- helpers ----------------------------------------------------------------------------

/** Always the oldest enabled task: runs tasks one after another in creation order. */
const oldestFirst: Strategy = { name: 'oldest', begin() {}, pick: () => 0 };
/** Always the newest enabled task: a spawned task runs before its parent goes on. */
const newestFirst: Strategy = { name: 'newest', begin() {}, pick: (en) => en.length - 1 };

async function run(roots: readonly (readonly Script[])[], strategy: Strategy, opts: { seed?: number; execution?: number; checkers?: readonly Checker[] } = {}): Promise<ExecutionResult & { events: TraceEvent[] }> {
  const p = selftestProgram('lock-manager-test', roots);
  const host = await InlineHost.create(p);
  await host.reset();
  const r = await runExecution(host, p, strategy, { seed: opts.seed ?? 1, execution: opts.execution ?? 0, record: true, checkers: opts.checkers ?? [] });
  await host.close();
  const events = (r.trace ?? []).flatMap((t) => [...t.events]);
  return { ...r, events };
}

const A = mutexRef('A');
const S = rwsemRef('S');
const C = completionRef('C');

const st = {
  lock: (l: LockRef): ScriptStep => ({ op: 'lock', lock: l }),
  unlock: (l: LockRef): ScriptStep => ({ op: 'unlock', lock: l }),
  trylock: (l: LockRef): ScriptStep => ({ op: 'trylock', lock: l }),
  read: (l: LockRef): ScriptStep => ({ op: 'down_read', lock: l }),
  readRec: (l: LockRef): ScriptStep => ({ op: 'down_read_recursive', lock: l }),
  write: (l: LockRef): ScriptStep => ({ op: 'down_write', lock: l }),
  readTry: (l: LockRef): ScriptStep => ({ op: 'down_read_trylock', lock: l }),
  writeTry: (l: LockRef): ScriptStep => ({ op: 'down_write_trylock', lock: l }),
  upRead: (l: LockRef): ScriptStep => ({ op: 'up_read', lock: l }),
  upWrite: (l: LockRef): ScriptStep => ({ op: 'up_write', lock: l }),
  wait: (c: LockRef): ScriptStep => ({ op: 'wait_for_completion', completion: c }),
  waitTimeout: (c: LockRef): ScriptStep => ({ op: 'wait_for_completion_timeout', completion: c }),
  isLocked: (l: LockRef): ScriptStep => ({ op: 'is_locked', lock: l }),
  complete: (c: LockRef): ScriptStep => ({ op: 'complete', completion: c }),
  completeAll: (c: LockRef): ScriptStep => ({ op: 'complete_all', completion: c }),
  spawn: (...scripts: Script[]): ScriptStep => ({ op: 'spawn', scripts }),
  yield: { op: 'yield' } as ScriptStep,
};

/** The most tasks that held `lock` at once, and in which modes, replaying the event stream. */
function maxHolders(events: readonly TraceEvent[], lockId: string): { max: number; writerWithOthers: boolean } {
  const holders = new Map<string, string>();
  let max = 0;
  let writerWithOthers = false;
  for (const e of events) {
    if (e.ev === 'lock.acquired' && e.ok && e.lock.id === lockId) {
      holders.set(e.task, e.mode);
      max = Math.max(max, holders.size);
      if (holders.size > 1 && [...holders.values()].includes('write')) writerWithOthers = true;
    } else if (e.ev === 'lock.released' && e.lock.id === lockId) {
      holders.delete(e.task);
    }
  }
  return { max, writerWithOthers };
}

const acquiredBy = (events: readonly TraceEvent[], task: string): { readonly mode: string; readonly try: boolean; readonly ok: boolean }[] =>
  events.flatMap((e) => (e.ev === 'lock.acquired' && e.task === task ? [{ mode: e.mode, try: e.try, ok: e.ok }] : []));

/** The task a root spawned, from the "spawn=<id>" line of its result log. */
function spawnedBy(r: ExecutionResult, root: string): string {
  const log = r.results[root] as readonly string[];
  const line = log.find((x) => x.startsWith('spawn='));
  if (line === undefined) throw new Error(`${root} spawned nothing: ${JSON.stringify(log)}`);
  return line.slice('spawn='.length);
}

const misuses = (events: readonly TraceEvent[]): string[] => events.flatMap((e) => (e.ev === 'lock.misuse' ? [e.what] : []));

// ---- mutex ------------------------------------------------------------------------------

describe('lock manager: mutex', () => {
  it('never lets two tasks hold a mutex, and contention happens under some schedule', async () => {
    const task: Script = [st.lock(A), st.yield, st.yield, st.unlock(A)];
    let contended = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const stats = new LockStats();
      const r = await run([[task], [task], [task]], new RandomStrategy(seed), { checkers: [stats] });
      expect(r.outcome).toBe('completed');
      expect(maxHolders(r.events, 'A').max).toBe(1);
      const a = stats.summary().classes['A']!;
      expect(a.acquisitions).toBe(3);
      contended += a.contentions;
    }
    expect(contended).toBeGreaterThan(0);
  });

  it('trylock fails while held (even by the caller) and succeeds when free', async () => {
    const r = await run([[[st.lock(A), st.trylock(A), st.unlock(A), st.trylock(A), st.unlock(A)]]], oldestFirst);
    expect(r.outcome).toBe('completed');
    expect(r.results['t1']).toEqual(['trylock(A)=false', 'trylock(A)=true']);
    expect(acquiredBy(r.events, 't1')).toEqual([
      { mode: 'write', try: false, ok: true },
      { mode: 'write', try: true, ok: false },
      { mode: 'write', try: true, ok: true },
    ]);
  });

  it('a task taking a mutex it holds sleeps forever (AA self-deadlock)', async () => {
    const r = await run([[[st.lock(A), st.lock(A)]]], oldestFirst);
    expect(r.outcome).toBe('deadlock');
    expect(r.findings.map((f) => f.kind)).toEqual(['deadlock']);
    expect(r.events.filter((e) => e.ev === 'lock.request').length).toBe(2);
  });

  it('keeps the nesting subclass of lock_nested in the events, and unlocks by id', async () => {
    const r = await run([[[{ op: 'lock_nested', lock: A, sub: 1 }, st.unlock(A)]]], oldestFirst);
    expect(r.outcome).toBe('completed');
    const acq = r.events.find((e) => e.ev === 'lock.acquired');
    expect(acq?.ev === 'lock.acquired' ? acq.lock.sub : undefined).toBe(1);
    expect(r.events.filter((e) => e.ev === 'lock.released').length).toBe(1);
  });

  it('reports unlock misuse: double unlock, unlock of an unheld lock, unlock by a non-owner', async () => {
    const r1 = await run([[[st.lock(A), st.unlock(A), st.unlock(A)]]], oldestFirst);
    expect(misuses(r1.events)).toEqual(['unlock of a mutex that is not locked']);
    const r2 = await run([[[st.lock(A), st.spawn([st.unlock(A), st.complete(C)]), st.wait(C), st.unlock(A)]]], oldestFirst);
    expect(r2.outcome).toBe('completed');
    expect(misuses(r2.events)).toEqual(['unlock of a mutex held by another task']);
    const m = r2.events.find((e) => e.ev === 'lock.misuse');
    expect(m?.ev === 'lock.misuse' ? m.holder : null).toBe('t1');
  });

  it('reports an op of the wrong lock kind', async () => {
    const r = await run([[[st.lock(S), st.read(A)]]], oldestFirst);
    expect(misuses(r.events)).toEqual(['wrong lock kind: mutex_lock on a rwsem (a mutex operation)', 'wrong lock kind: down_read on a mutex (a rwsem operation)']);
  });
});

// ---- rw_semaphore --------------------------------------------------------------------------

describe('lock manager: rwsem', () => {
  it('readers share: a second reader gets it while the first holds it, under every schedule', async () => {
    const script: Script = [st.read(S), st.spawn([st.read(S), st.upRead(S), st.complete(C)]), st.wait(C), st.upRead(S)];
    for (let seed = 1; seed <= 20; seed++) {
      const r = await run([[script]], new RandomStrategy(seed));
      expect(r.outcome).toBe('completed');
      expect(maxHolders(r.events, 'S')).toEqual({ max: 2, writerWithOthers: false });
    }
  });

  it('a writer excludes readers and writers; readers exclude a writer', async () => {
    const underWrite = await run([[[st.write(S), st.spawn([st.readTry(S), st.writeTry(S), st.complete(C)]), st.wait(C), st.upWrite(S)]]], oldestFirst);
    expect(underWrite.outcome).toBe('completed');
    const child1 = spawnedBy(underWrite, 't1');
    expect(acquiredBy(underWrite.events, child1)).toEqual([
      { mode: 'read', try: true, ok: false },
      { mode: 'write', try: true, ok: false },
    ]);
    const underRead = await run([[[st.read(S), st.spawn([st.writeTry(S), st.readTry(S), st.upRead(S), st.complete(C)]), st.wait(C), st.upRead(S)]]], oldestFirst);
    expect(underRead.outcome).toBe('completed');
    const child2 = spawnedBy(underRead, 't1');
    expect(acquiredBy(underRead.events, child2)).toEqual([
      { mode: 'write', try: true, ok: false },
      { mode: 'read', try: true, ok: true },
    ]);
  });

  it('writers never overlap with anyone under random schedules', async () => {
    const w: Script = [st.write(S), st.yield, st.upWrite(S)];
    const rd: Script = [st.read(S), st.yield, st.upRead(S)];
    for (let seed = 1; seed <= 30; seed++) {
      const r = await run([[w], [rd], [w], [rd]], new RandomStrategy(seed));
      expect(r.outcome).toBe('completed');
      expect(maxHolders(r.events, 'S').writerWithOthers).toBe(false);
    }
  });

  it('an arriving reader queues behind a waiting writer; a recursive reader does not', async () => {
    // newest-first: the spawned writer runs at once and sleeps (t1 holds S for read).
    const rd = (again: ScriptStep): Script => [st.read(S), st.spawn([st.write(S), st.upWrite(S)]), st.readTry(S), again, st.upRead(S), st.upRead(S)];
    const blocked = await run([[rd(st.read(S))]], newestFirst);
    expect(blocked.results['t1']).toBeUndefined();
    expect(blocked.outcome).toBe('deadlock');
    expect(acquiredBy(blocked.events, 't1')).toEqual([
      { mode: 'read', try: false, ok: true },
      { mode: 'read', try: true, ok: false },
    ]);
    const recursive = await run([[rd(st.readRec(S))]], newestFirst);
    expect(recursive.outcome).toBe('completed');
    expect(acquiredBy(recursive.events, 't1').map((a) => `${a.mode}/${a.ok}`)).toEqual(['read/true', 'read/false', 'read-recursive/true']);
  });

  it('reports up_read/up_write misuse', async () => {
    const r = await run([[[st.upRead(S), st.write(S), st.upRead(S), st.upWrite(S), st.upWrite(S)]]], oldestFirst);
    expect(misuses(r.events)).toEqual([
      'up_read of an rwsem that is not locked',
      'up_read of an rwsem held for write',
      'up_write of an rwsem that is not write-locked',
    ]);
  });
});

// ---- completions -------------------------------------------------------------------------

describe('lock manager: completions', () => {
  it('a waiter sleeps until complete()', async () => {
    const r = await run([[[st.wait(C)]], [[st.complete(C)]]], oldestFirst, { checkers: [] });
    expect(r.outcome).toBe('completed');
    const order = r.events.filter((e) => e.ev === 'wait.start' || e.ev === 'wait.done' || e.ev === 'complete').map((e) => `${e.task}:${e.ev}`);
    expect(order).toEqual(['t1:wait.start', 't2:complete', 't1:wait.done']);
  });

  it('complete() lets one waiter through, complete_all() all of them', async () => {
    for (let seed = 1; seed <= 10; seed++) {
      const one = await run([[[st.wait(C)]], [[st.wait(C)]], [[st.complete(C)]]], new RandomStrategy(seed));
      expect(one.outcome).toBe('deadlock');
      expect(one.events.filter((e) => e.ev === 'wait.done').length).toBe(1);
      const all = await run([[[st.wait(C)]], [[st.wait(C)]], [[st.completeAll(C)]]], new RandomStrategy(seed));
      expect(all.outcome).toBe('completed');
      expect(all.events.filter((e) => e.ev === 'wait.done').length).toBe(2);
    }
  });

  it('counts complete() calls made before anyone waits', async () => {
    const r = await run([[[st.complete(C), st.complete(C)], [st.wait(C), st.wait(C)]]], oldestFirst);
    expect(r.outcome).toBe('completed');
    const r2 = await run([[[st.complete(C)], [st.wait(C), st.wait(C)]]], oldestFirst);
    expect(r2.outcome).toBe('deadlock');
  });
});

// ---- assertions ----------------------------------------------------------------------------

describe('lock manager: wait_for_completion_timeout and is_locked', () => {
  it('a timed wait with nobody to complete times out (false) and does not synchronise; a completion done first is consumed (true)', async () => {
    const r = await run([[[st.waitTimeout(C), st.complete(C), st.waitTimeout(C), st.waitTimeout(C)]]], oldestFirst);
    expect(r.outcome).toBe('completed');
    expect(r.results['t1']).toEqual([`wait_for_completion_timeout(${C.id})=false`, `wait_for_completion_timeout(${C.id})=true`, `wait_for_completion_timeout(${C.id})=false`]);
    // wait.done only for the wait that consumed the completion
    expect(r.events.filter((e) => e.ev === 'wait.done').length).toBe(1);
  });

  it('a timed waiter woken after complete() gets it when the completer runs first', async () => {
    // newest first: t1 spawns the completer, which runs before t1 sleeps
    const r = await run([[[st.spawn([st.complete(C)]), st.waitTimeout(C)]]], newestFirst);
    expect(r.outcome).toBe('completed');
    expect(r.results['t1']).toContain(`wait_for_completion_timeout(${C.id})=true`);
  });

  it('is_locked: true while any task holds the lock (mutex_is_locked), no event', async () => {
    const r = await run([[[st.isLocked(A), st.lock(A), st.isLocked(A), st.unlock(A), st.read(S), st.isLocked(S), st.upRead(S), st.isLocked(S)]]], oldestFirst);
    expect(r.results['t1']).toEqual([`is_locked(${A.id})=false`, `is_locked(${A.id})=true`, `is_locked(${S.id})=true`, `is_locked(${S.id})=false`]);
    expect(r.events.filter((e) => e.ev === 'lock.assert').length).toBe(0);
  });
});

describe('lock manager: assertions', () => {
  it('answers lockdep_assert_held / _not_held and emits lock.assert', async () => {
    const r = await run([[[
      { op: 'assert_held', lock: A }, st.lock(A), { op: 'assert_held', lock: A }, { op: 'assert_not_held', lock: A },
      st.read(S), { op: 'assert_held', lock: S }, st.upRead(S), { op: 'assert_not_held', lock: S }, st.unlock(A),
    ]]], oldestFirst);
    expect(r.results['t1']).toEqual(['assert_held(A)=false', 'assert_held(A)=true', 'assert_not_held(A)=false', 'assert_held(S)=true', 'assert_not_held(S)=true']);
    const asserts = r.events.flatMap((e) => (e.ev === 'lock.assert' ? [`${e.lock.id}:${e.held}:${e.ok}`] : []));
    expect(asserts).toEqual(['A:true:false', 'A:true:true', 'A:false:false', 'S:true:true', 'S:false:true']);
  });
});

// ---- lock statistics -------------------------------------------------------------------------

describe('lock statistics', () => {
  it('counts acquisitions, contentions, waiters, wait and hold steps', async () => {
    // newest-first: each spawned task runs at once and sleeps on A, which t1 holds.
    const child: Script = [st.lock(A), st.unlock(A)];
    const stats = new LockStats();
    const r = await run([[[st.lock(A), st.spawn(child), st.spawn(child), st.unlock(A)]]], newestFirst, { checkers: [stats] });
    expect(r.outcome).toBe('completed');
    const a = stats.summary().classes['A']!;
    expect(a.acquisitions).toBe(3);
    expect(a.contentions).toBe(2);
    expect(a.maxWaiters).toBe(2);
    expect(a.tryFailures).toBe(0);
    expect(a.hold.count).toBe(3);
    expect(a.wait.count).toBe(2);
    expect(a.wait.min).toBeGreaterThan(0);
    expect(a.wait.max).toBeGreaterThan(a.wait.min);
    expect(JSON.parse(JSON.stringify(stats))).toEqual(stats.summary());
  });

  it('counts a request never granted (deadlock) as a waiter and try failures apart', async () => {
    const stats = new LockStats();
    await run([[[st.lock(A), st.trylock(A), st.lock(A)]]], oldestFirst, { checkers: [stats] });
    const a = stats.summary().classes['A']!;
    expect(a).toMatchObject({ acquisitions: 1, tryFailures: 1, contentions: 1, maxWaiters: 1 });
  });

  it('counts completion waits and completes', async () => {
    const stats = new LockStats();
    await run([[[st.wait(C)]], [[st.complete(C)]]], oldestFirst, { checkers: [stats] });
    expect(stats.summary().classes['C']).toMatchObject({ completionWaits: 1, completes: 1, contentions: 1, acquisitions: 0 });
  });
});
