import { lockManagerSpec } from '../../actors/lock-manager.ts';
import type { Script, ScriptStep } from './actor.ts';
import type { Program } from '../../runtime/program.ts';
import type { LockRef } from '../../protocol/events.ts';
import type { FindingKind } from '../../protocol/findings.ts';
import { actorId, taskId } from '../../protocol/ids.ts';
import { classLock, completionRef, deviceLock, mutexRef, rwsemRef } from '../../protocol/lock-classes.ts';

/**
 * The locking selftest matrix (lib/locking-selftest.c): named lock shapes,
 * each expected to produce one finding kind or none. The kernel's matrix
 * crosses shapes with lock types and irq contexts; ours crosses them with
 * the model's lock kinds (mutex, rwsem read/recursive-read/write, trylock,
 * completions) and the nesting annotation, and has no irq contexts.
 *
 * Every case whose point is prediction runs its tasks strictly one after
 * another (a task spawns the next when it is done), so an inversion is
 * reported although no schedule can deadlock.
 */

export interface SelftestCase {
  /** Starts with the shape ("ABBA", "AA", "rwsem …"). */
  readonly name: string;
  /** The finding kind the case must produce, or null for a clean case. */
  readonly expected: FindingKind | null;
  readonly description: string;
  readonly program: Program;
}

// ---- the locks ------------------------------------------------------------------------

const A = mutexRef('A');
const B = mutexRef('B');
const C = mutexRef('C');
const D = mutexRef('D');
/** Two instances of one class: lockdep's X1/X2. */
const A1 = mutexRef('A1', 'A');
const A2 = mutexRef('A2', 'A');
const SA = rwsemRef('SA');
const SB = rwsemRef('SB');
const S1 = rwsemRef('S1', 'S');
const S2 = rwsemRef('S2', 'S');
const L = mutexRef('L');
const M = mutexRef('M');
const COMP = completionRef('comp');
const PARENT = '0000:00:1c.0';
const CHILD = '0000:01:00.0';

// ---- script steps (locking-selftest's L/U/RL/WL… macros) --------------------------------

const lock = (l: LockRef): ScriptStep => ({ op: 'lock', lock: l });
const unlock = (l: LockRef): ScriptStep => ({ op: 'unlock', lock: l });
const trylock = (l: LockRef): ScriptStep => ({ op: 'trylock', lock: l });
const read = (l: LockRef): ScriptStep => ({ op: 'down_read', lock: l });
const readRecursive = (l: LockRef): ScriptStep => ({ op: 'down_read_recursive', lock: l });
const write = (l: LockRef): ScriptStep => ({ op: 'down_write', lock: l });
const upRead = (l: LockRef): ScriptStep => ({ op: 'up_read', lock: l });
const upWrite = (l: LockRef): ScriptStep => ({ op: 'up_write', lock: l });
const wait = (c: LockRef): ScriptStep => ({ op: 'wait_for_completion', completion: c });
const complete = (c: LockRef): ScriptStep => ({ op: 'complete', completion: c });
const spawn = (...scripts: Script[]): ScriptStep => ({ op: 'spawn', scripts });
const yieldStep: ScriptStep = { op: 'yield' };

/** Lock a, then b, release both. */
const take2 = (a: LockRef, b: LockRef): Script => [lock(a), lock(b), unlock(b), unlock(a)];

// ---- programs -------------------------------------------------------------------------

export const SELFTEST_ACTOR = actorId('selftest');
export const SELFTEST_LOCKS = actorId('locks');

/**
 * A selftest program. Each root is a chain of scripts run one after another
 * by one task and its spawned successors; several roots run concurrently.
 */
export function selftestProgram(name: string, roots: readonly (readonly Script[])[]): Program {
  return {
    name: `selftest:${name}`,
    actors: [
      { id: SELFTEST_ACTOR, module: 'scenarios/selftest/actor', export: 'selftestActor' },
      lockManagerSpec(SELFTEST_LOCKS),
    ],
    lockManagers: [SELFTEST_LOCKS],
    tasks: roots.map((scripts, i) => ({ id: taskId(`t${i + 1}`), to: SELFTEST_ACTOR, op: 'run', body: { scripts } })),
  };
}

/** One root task running `scripts` strictly in sequence. */
const sequential = (name: string, expected: FindingKind | null, description: string, ...scripts: Script[]): SelftestCase => ({
  name, expected, description, program: selftestProgram(name, [scripts]),
});

const CASES: readonly SelftestCase[] = [
  // ---- recursion ----------------------------------------------------------------------
  sequential('AA', 'recursive-locking', 'two locks of one class nested without annotation (locking-selftest AA: L(X1); L(X2))',
    [lock(A1), lock(A2), unlock(A2), unlock(A1)]),
  sequential('AA same lock', 'recursive-locking', 'a mutex taken twice by its holder: reported at the request, then it self-deadlocks',
    [lock(A), lock(A)]),

  // ---- cycles, run one task after another ------------------------------------------------
  sequential('ABBA', 'lock-order-inversion', 'A→B in one task, then B→A in the next',
    take2(A, B), take2(B, A)),
  sequential('ABAB same order', null, 'A→B twice: no cycle',
    take2(A, B), take2(A, B)),
  sequential('ABBCCA', 'lock-order-inversion', 'three tasks close A→B→C→A',
    take2(A, B), take2(B, C), take2(C, A)),
  sequential('ABCABC', 'lock-order-inversion', 'A→B, C→A, B→C',
    take2(A, B), take2(C, A), take2(B, C)),
  sequential('ABBCCDDA', 'lock-order-inversion', 'four tasks close A→B→C→D→A',
    take2(A, B), take2(B, C), take2(C, D), take2(D, A)),
  sequential('ABCDBDDA', 'lock-order-inversion', 'A→B, C→D, B→D, D→A: the cycle A→B→D→A',
    take2(A, B), take2(C, D), take2(B, D), take2(D, A)),
  sequential('ABCDBCDA', 'lock-order-inversion', 'A→B, C→D, B→C, D→A: the cycle A→B→C→D→A',
    take2(A, B), take2(C, D), take2(B, C), take2(D, A)),

  // ---- unlock and lifetime misuse ---------------------------------------------------------
  sequential('double unlock', 'lock-misuse', 'L(A); U(A); U(A)',
    [lock(A), unlock(A), unlock(A)]),
  sequential('unlock of an unheld lock', 'lock-misuse', 'U(A) with A never taken',
    [unlock(A)]),
  sequential('unlock of a lock held by another task', 'lock-misuse', 'a spawned task unlocks the mutex its parent holds',
    [lock(A), spawn([unlock(A), complete(COMP)]), wait(COMP), unlock(A)]),
  sequential('lock held at exit', 'lock-misuse', 'a task returns with A held',
    [lock(A)]),
  sequential('held lock freed', 'lock-misuse', 'kfree of an object whose lock is held',
    [{ op: 'alloc', obj: 'obj0' }, lock(mutexRef('obj0->lock', 'obj->lock')), { op: 'free', obj: 'obj0' }, unlock(mutexRef('obj0->lock', 'obj->lock'))]),

  // ---- rwsem read/write rules ---------------------------------------------------------------
  sequential('rwsem read-read', null, 'two readers hold the semaphore at once',
    [read(SA), spawn([read(SA), upRead(SA)]), yieldStep, upRead(SA)]),
  sequential('rwsem AA read-read', 'recursive-locking', 'down_read twice in one class (locking-selftest rsem_AA1): a writer queued in between deadlocks it',
    [read(S1), read(S2), upRead(S2), upRead(S1)]),
  sequential('rwsem AA recursive read', null, 'recursive read twice in one class (locking-selftest rlock_AA1)',
    [readRecursive(S1), readRecursive(S2), upRead(S2), upRead(S1)]),
  sequential('rwsem read-read ABBA', 'lock-order-inversion', 'down_read A→B then B→A: readers queue behind waiting writers, so it can deadlock',
    [read(SA), read(SB), upRead(SB), upRead(SA)], [read(SB), read(SA), upRead(SA), upRead(SB)]),
  sequential('rwsem recursive-read ABBA', null, 'recursive readers A→B then B→A: a recursive reader never waits for a reader',
    [readRecursive(SA), readRecursive(SB), upRead(SB), upRead(SA)], [readRecursive(SB), readRecursive(SA), upRead(SA), upRead(SB)]),
  sequential('rwsem read/write ABBA', 'lock-order-inversion', 'read A→write B, then write B→write A (locking-selftest rwsem_ABBA1)',
    [read(SA), write(SB), upWrite(SB), upRead(SA)], [write(SB), write(SA), upWrite(SA), upWrite(SB)]),
  sequential('rwsem recursive-read/write ABBA', null, 'recursive read A→write B, then write B→recursive read A (locking-selftest rlock_ABBA2)',
    [readRecursive(SA), write(SB), upWrite(SB), upRead(SA)], [write(SB), readRecursive(SA), upRead(SA), upWrite(SB)]),

  // ---- trylock ------------------------------------------------------------------------------
  sequential('trylock ABBA', null, 'A then trylock B, B then trylock A: a trylock cannot block, so no edge to it',
    [lock(A), trylock(B), unlock(B), unlock(A)], [lock(B), trylock(A), unlock(A), unlock(B)]),
  sequential('trylock-held ABBA', 'lock-order-inversion', 'trylock A then lock B, then B→A: a lock taken by trylock is held, and edges from it count',
    [trylock(A), lock(B), unlock(B), unlock(A)], take2(B, A)),

  // ---- completions (cross-release) --------------------------------------------------------------
  sequential('completion wait under lock vs completer taking it', 'lock-order-inversion', 'the completer holds L at complete(C); the waiter waits for C holding L (bug B10 shape)',
    [lock(L), complete(COMP), unlock(L)], [lock(L), wait(COMP), unlock(L)]),
  sequential('completion wait under lock, completer needs another lock', null, 'the completer takes M, the waiter holds L: no cycle',
    [lock(M), unlock(M), complete(COMP)], [lock(L), wait(COMP), unlock(L)]),

  // ---- nesting annotation ---------------------------------------------------------------------
  sequential('parent-child device_lock', 'recursive-locking', 'bridge then endpoint device_lock, same class, no annotation',
    [lock(deviceLock(PARENT)), lock(deviceLock(CHILD)), unlock(deviceLock(CHILD)), unlock(deviceLock(PARENT))]),
  sequential('parent-child device_lock nested', null, 'the child taken with mutex_lock_nested(…, SINGLE_DEPTH_NESTING)',
    [lock(deviceLock(PARENT)), { op: 'lock_nested', lock: deviceLock(CHILD), sub: 1 }, unlock(deviceLock(CHILD)), unlock(deviceLock(PARENT))]),

  // ---- assertions ------------------------------------------------------------------------------
  sequential('assert held, not held', 'assert-held', 'lockdep_assert_held(group->mutex) without taking it',
    [{ op: 'assert_held', lock: classLock('group->mutex', 'group0') }]),
  sequential('assert held, held', null, 'lockdep_assert_held(A) with A held and lockdep_assert_not_held(B) with B free',
    [lock(A), { op: 'assert_held', lock: A }, { op: 'assert_not_held', lock: B }, unlock(A)]),
];

export function lockingSelftestCases(): readonly SelftestCase[] {
  return CASES;
}
