import { describe, expect, it } from 'vitest';
import { golden } from './helpers/golden.ts';
import { Lockdep } from '../checkers/lockdep/lockdep.ts';
import { runExecution } from '../runtime/execution.ts';
import { InlineHost } from '../runtime/hosts/inline.ts';
import type { Program } from '../runtime/program.ts';
import { RandomStrategy } from '../runtime/strategies/random.ts';
import { abbaProgram } from '../scenarios/runtime/abba.ts';
import { lockingSelftestCases } from '../scenarios/selftest/cases.ts';
import type { LockMode, LockRef, TraceEvent } from '../protocol/events.ts';
import type { Finding } from '../protocol/findings.ts';
import { actorId, objId, taskId } from '../protocol/ids.ts';
import { CANONICAL_ORDER, completionRef, deviceLock, groupMutex, mutexRef, rwsemRef } from '../protocol/lock-classes.ts';

// ---- a synthetic event feed: lockdep is a pure consumer of events -------------------------------

const LOCKS = actorId('locks');

class Feed {
  readonly ld: Lockdep;
  private step = 0;
  constructor(ld = new Lockdep()) {
    this.ld = ld;
  }
  private emit(e: TraceEvent): this {
    this.ld.onEvent(e, this.step++);
    return this;
  }
  private static stack(site: string, op: string): string[] {
    return [site, `locks:${op}`];
  }
  start(task: string, parent: string | null = null, site = 'app:f'): this {
    return this.emit({ ev: 'task.start', task: taskId(task), actor: actorId('app'), stack: [site], parent: parent === null ? null : taskId(parent) });
  }
  end(task: string, site = 'app:f'): this {
    return this.emit({ ev: 'task.end', task: taskId(task), actor: actorId('app'), stack: [site] });
  }
  acquire(task: string, lock: LockRef, mode: LockMode = 'write', opts: { readonly try?: boolean; readonly site?: string } = {}): this {
    const stack = Feed.stack(opts.site ?? 'app:f', lock.kind === 'rwsem' ? (mode === 'write' ? 'down_write' : 'down_read') : 'mutex_lock');
    const t = taskId(task);
    const tr = opts.try ?? false;
    this.emit({ ev: 'lock.request', task: t, actor: LOCKS, stack, lock, mode, try: tr });
    return this.emit({ ev: 'lock.acquired', task: t, actor: LOCKS, stack, lock, mode, try: tr, ok: true });
  }
  /** A request that blocks and is never granted (what lockdep sees of a real deadlock). */
  request(task: string, lock: LockRef, mode: LockMode = 'write', site = 'app:f'): this {
    return this.emit({ ev: 'lock.request', task: taskId(task), actor: LOCKS, stack: Feed.stack(site, 'mutex_lock'), lock, mode, try: false });
  }
  release(task: string, lock: LockRef, mode: LockMode = 'write', site = 'app:f'): this {
    return this.emit({ ev: 'lock.released', task: taskId(task), actor: LOCKS, stack: Feed.stack(site, 'mutex_unlock'), lock, mode });
  }
  take2(task: string, a: LockRef, b: LockRef, ma: LockMode = 'write', mb: LockMode = 'write', site = 'app:f'): this {
    return this.acquire(task, a, ma, { site }).acquire(task, b, mb, { site }).release(task, b, mb, site).release(task, a, ma, site);
  }
  wait(task: string, c: LockRef, site = 'app:f'): this {
    return this.waitStart(task, c, site).waitDone(task, c, site);
  }
  /** wait_for_completion() begins (the task sleeps until waitDone). */
  waitStart(task: string, c: LockRef, site = 'app:f'): this {
    return this.emit({ ev: 'wait.start', task: taskId(task), actor: LOCKS, stack: Feed.stack(site, 'wait_for_completion'), completion: c });
  }
  waitDone(task: string, c: LockRef, site = 'app:f'): this {
    return this.emit({ ev: 'wait.done', task: taskId(task), actor: LOCKS, stack: Feed.stack(site, 'wait_for_completion'), completion: c });
  }
  context(task: string, context: string | null): this {
    return this.emit({ ev: 'task.context', task: taskId(task), actor: actorId('app'), stack: ['app:f'], context });
  }
  complete(task: string, c: LockRef, site = 'app:f'): this {
    return this.emit({ ev: 'complete', task: taskId(task), actor: LOCKS, stack: Feed.stack(site, 'complete'), completion: c, all: false });
  }
  misuse(task: string, lock: LockRef, what: string, holder: string | null = null): this {
    return this.emit({ ev: 'lock.misuse', task: taskId(task), actor: LOCKS, stack: Feed.stack('app:f', 'mutex_unlock'), lock, what, holder: holder === null ? null : taskId(holder) });
  }
  assert(task: string, lock: LockRef, held: boolean, ok: boolean): this {
    return this.emit({ ev: 'lock.assert', task: taskId(task), actor: LOCKS, stack: Feed.stack('app:f', 'lock_assert'), lock, held, ok });
  }
  free(task: string, obj: string): this {
    return this.emit({ ev: 'free', task: taskId(task), actor: actorId('app'), stack: ['app:f'], obj: objId(obj) });
  }
  findings(): readonly Finding[] {
    return this.ld.drain();
  }
}

const A = mutexRef('A');
const B = mutexRef('B');
const C = mutexRef('C');
const kinds = (fs: readonly Finding[]): string[] => fs.map((f) => f.kind);

// ---- dependency cycles -------------------------------------------------------------------------

describe('lockdep: circular dependencies', () => {
  it('predicts ABBA from two tasks that ran one after the other', () => {
    const f = new Feed().take2('t1', A, B).take2('t2', B, A).findings();
    expect(kinds(f)).toEqual(['lock-order-inversion']);
    expect(f[0]!.signature).toBe('lock-order-inversion|A,B|app.f');
    expect(f[0]!.title).toBe('lock-order-inversion in app.f');
    expect(f[0]!.actor).toBe('app');
    expect(f[0]!.handler).toBe('f');
    expect(f[0]!.tasks.map((t) => t.task)).toEqual(['t2', 't1']);
    expect(f[0]!.tasks[0]!.waitsFor).toBe('lock A (A)');
  });

  it('reports nothing for the same order, and each cycle once', () => {
    expect(new Feed().take2('t1', A, B).take2('t2', A, B).findings()).toEqual([]);
    const feed = new Feed().take2('t1', A, B).take2('t2', B, A);
    expect(feed.findings().length).toBe(1);
    feed.take2('t3', B, A).take2('t4', A, B);
    expect(feed.findings()).toEqual([]);
  });

  it('sees the attempt of a request that never gets granted (a real deadlock)', () => {
    const f = new Feed().acquire('t1', A).acquire('t2', B).request('t1', B).request('t2', A).findings();
    expect(kinds(f)).toEqual(['lock-order-inversion']);
  });

  it('signature names classes and sites, not tasks or lock instances', () => {
    const a2 = mutexRef('A#2', 'A');
    const s1 = new Feed().take2('t1', A, B).take2('t2', B, A).findings()[0]!.signature;
    const s2 = new Feed().take2('x.7', B, a2).take2('y', a2, B).findings()[0]!.signature;
    expect(s2).toBe(s1);
    const s3 = new Feed().take2('t1', A, B, 'write', 'write', 'pci:reset').take2('t2', B, A, 'write', 'write', 'vfio:open').findings()[0]!.signature;
    expect(s3).toBe('lock-order-inversion|A,B|pci.reset,vfio.open');
  });

  it('finds the three- and four-lock shapes of locking-selftest', () => {
    const D = mutexRef('D');
    const cycle = (pairs: readonly (readonly [LockRef, LockRef])[]): string[] => {
      const f = new Feed();
      pairs.forEach(([x, y], i) => f.take2(`t${i}`, x, y));
      return f.findings().map((x) => x.signature);
    };
    expect(cycle([[A, B], [B, C], [C, A]])).toEqual(['lock-order-inversion|A,B,C|app.f']);
    expect(cycle([[A, B], [C, A], [B, C]])).toEqual(['lock-order-inversion|A,B,C|app.f']);
    expect(cycle([[A, B], [B, C], [C, D], [D, A]])).toEqual(['lock-order-inversion|A,B,C,D|app.f']);
    expect(cycle([[A, B], [C, D], [B, D], [D, A]])).toEqual(['lock-order-inversion|A,B,D|app.f']);
    expect(cycle([[A, B], [C, D], [B, C], [D, A]])).toEqual(['lock-order-inversion|A,B,C,D|app.f']);
  });

  it('adds an edge from each held lock down to the first non-trylock one', () => {
    const ld = new Lockdep();
    new Feed(ld).acquire('t1', A).acquire('t1', B, 'write', { try: true }).acquire('t1', C);
    expect(ld.dependencies().map((e) => `${e.from}->${e.to}`)).toEqual(['B->C', 'A->C']);
    const ld2 = new Lockdep();
    new Feed(ld2).acquire('t1', A).acquire('t1', B).acquire('t1', C);
    expect(ld2.dependencies().map((e) => `${e.from}->${e.to}`)).toEqual(['A->B', 'B->C']);
  });

  it('trylock adds no edge to the lock it takes; a lock it took adds edges onward', () => {
    const clean = new Feed()
      .acquire('t1', A).acquire('t1', B, 'write', { try: true }).release('t1', B).release('t1', A)
      .acquire('t2', B).acquire('t2', A, 'write', { try: true }).release('t2', A).release('t2', B);
    expect(clean.findings()).toEqual([]);
    const held = new Feed()
      .acquire('t1', A, 'write', { try: true }).acquire('t1', B).release('t1', B).release('t1', A)
      .take2('t2', B, A);
    expect(kinds(held.findings())).toEqual(['lock-order-inversion']);
  });
});

// ---- read/write rules --------------------------------------------------------------------------

describe('lockdep: recursive-read rules (lockdep-design.rst)', () => {
  const X = rwsemRef('X');
  const Y = rwsemRef('Y');
  const Z = rwsemRef('Z');
  // [t1 takes X then Y, t2 takes Y then X] in these modes, as lib/locking-selftest.c pairs them.
  const abba: readonly (readonly [string, LockMode, LockMode, LockMode, LockMode, string | null])[] = [
    ['rlock_ABBA1: rec-read X→Y, Y→write X', 'read-recursive', 'write', 'write', 'write', 'lock-order-inversion'],
    ['rlock_ABBA2: rec-read X→Y, Y→rec-read X', 'read-recursive', 'write', 'write', 'read-recursive', null],
    ['rlock_ABBA3: write X→Y, Y→write X', 'write', 'write', 'write', 'write', 'lock-order-inversion'],
    ['rwsem_ABBA2: read X→Y, Y→read X', 'read', 'write', 'write', 'read', 'lock-order-inversion'],
    ['read X→read Y, read Y→read X', 'read', 'read', 'read', 'read', 'lock-order-inversion'],
    ['rec X→rec Y, rec Y→rec X', 'read-recursive', 'read-recursive', 'read-recursive', 'read-recursive', null],
    ['write X→rec Y, write Y→rec X', 'write', 'read-recursive', 'write', 'read-recursive', 'lock-order-inversion'],
  ];
  it.each(abba)('%s', (_name, m1, m2, m3, m4, expected) => {
    const f = new Feed().take2('t1', X, Y, m1, m2).take2('t2', Y, X, m3, m4).findings();
    expect(f.map((x) => x.kind)).toEqual(expected === null ? [] : [expected]);
  });

  it('a path is strong only without -(xR)-> followed by -(Sy)-> (also in the middle of a cycle)', () => {
    // X -(ER)-> Y -(SN)-> Z -(EN)-> X: Y is reached as a recursive reader and left as a reader.
    const weak = new Feed().take2('t1', X, Y, 'write', 'read-recursive').take2('t2', Y, Z, 'read-recursive', 'write').take2('t3', Z, X).findings();
    expect(weak).toEqual([]);
    // The same with Y held for write in the middle edge: strong.
    const strong = new Feed().take2('t1', X, Y, 'write', 'read-recursive').take2('t2', Y, Z, 'write', 'write').take2('t3', Z, X).findings();
    expect(kinds(strong)).toEqual(['lock-order-inversion']);
  });

  it('prints rlock() for read sides of the scenario', () => {
    const f = new Feed().take2('t1', X, Y, 'read', 'write').take2('t2', Y, X, 'write', 'read').findings();
    expect(f[0]!.report).toContain('  lock(Y);\n                               lock(X);\n                               lock(Y);\n  rlock(X);\n');
  });
});

// ---- recursion and nesting ---------------------------------------------------------------------

describe('lockdep: recursive locking and subclasses', () => {
  it('reports a class taken twice, at request time', () => {
    const f = new Feed().acquire('t1', mutexRef('A1', 'A')).request('t1', mutexRef('A2', 'A')).findings();
    expect(kinds(f)).toEqual(['recursive-locking']);
    expect(f[0]!.signature).toBe('recursive-locking|A|app.f');
    expect(f[0]!.report).toContain('WARNING: possible recursive locking detected');
    expect(f[0]!.report).toContain(' May be due to missing lock nesting notation');
  });

  it('parent→child device_lock is recursive unless the child has a nesting subclass', () => {
    const parent = deviceLock('0000:00:1c.0');
    expect(kinds(new Feed().acquire('t1', parent).acquire('t1', deviceLock('0000:01:00.0')).findings())).toEqual(['recursive-locking']);
    const ld = new Lockdep();
    expect(new Feed(ld).acquire('t1', parent).acquire('t1', deviceLock('0000:01:00.0', 1)).findings()).toEqual([]);
    expect(ld.dependencies().map((e) => `${e.from}->${e.to}`)).toEqual(['device_lock->device_lock/1']);
  });

  it('the kernel would not see it: novalidate turns device_lock checking off', () => {
    const ld = new Lockdep({ novalidate: ['device_lock'] });
    expect(new Feed(ld).acquire('t1', deviceLock('a')).acquire('t1', deviceLock('b')).findings()).toEqual([]);
  });

  it('read-after-read recursion is allowed for recursive readers only', () => {
    const S1 = rwsemRef('S1', 'S');
    const S2 = rwsemRef('S2', 'S');
    expect(new Feed().acquire('t1', S1, 'read').acquire('t1', S2, 'read-recursive').findings()).toEqual([]);
    expect(kinds(new Feed().acquire('t1', S1, 'read').acquire('t1', S2, 'read').findings())).toEqual(['recursive-locking']);
    expect(kinds(new Feed().acquire('t1', S1, 'write').acquire('t1', S2, 'read-recursive').findings())).toEqual(['recursive-locking']);
  });
});

// ---- completions ------------------------------------------------------------------------------

describe('lockdep: completions (cross-release)', () => {
  const L = mutexRef('L');
  const comp = completionRef('comp');

  it('completer first, holding the lock at complete(), then a waiter holding it: reported at the wait', () => {
    const f = new Feed().acquire('t1', L).complete('t1', comp).release('t1', L).acquire('t2', L).wait('t2', comp).findings();
    expect(kinds(f)).toEqual(['lock-order-inversion']);
    expect(f[0]!.signature).toBe('lock-order-inversion|L,comp|app.f');
    expect(f[0]!.report).toMatch(/^t2\/\d+ is trying to wait for completion:$/m);
    expect(f[0]!.report).toContain('  wait_for_completion(comp);\n                               complete(comp);\n');
  });

  it('waiter first, then a completer that needs the lock during the wait: reported at complete()', () => {
    const f = new Feed().acquire('t1', L).waitStart('t1', comp).acquire('t2', L).release('t2', L).complete('t2', comp).waitDone('t1', comp).release('t1', L).findings();
    expect(kinds(f)).toEqual(['lock-order-inversion']);
    expect(f[0]!.report).toMatch(/^t2\/\d+ is completing:$/m);
    expect(f[0]!.report).toContain('Possible unsafe locking scenario by crosslock');
  });

  it('a completer that took no lock, or only by trylock, adds no dependency', () => {
    expect(new Feed().acquire('t1', L).wait('t1', comp).release('t1', L).complete('t2', comp).findings()).toEqual([]);
    expect(new Feed().acquire('t1', L).wait('t1', comp).release('t1', L)
      .acquire('t2', L, 'write', { try: true }).release('t2', L).complete('t2', comp).findings()).toEqual([]);
  });

  it('a chain through a completion: A held while waiting, completer takes B, B→A elsewhere', () => {
    const f = new Feed().acquire('t1', A).waitStart('t1', comp)
      .acquire('t2', B).release('t2', B).complete('t2', comp)
      .waitDone('t1', comp).release('t1', A)
      .take2('t3', B, A).findings();
    expect(f.map((x) => x.signature)).toEqual(['lock-order-inversion|A,B,comp|app.f']);
    expect(f[0]!.report).toContain('Chain exists of:\n  A --> comp --> B\n');
  });

  it('a completion only its own completer waits on holds nobody up (vfio_unregister_group_dev with no fd open), whatever the order', () => {
    // Two devices of one lock class: t1 unregisters dev1 with a user (waits under its device lock);
    // t2 unregisters dev2 with none (drops the last reference under its device lock, then waits: done at once).
    const D1 = mutexRef('dev1->lock', 'D');
    const D2 = mutexRef('dev2->lock', 'D');
    const c1 = completionRef('dev1->comp', 'C');
    const c2 = completionRef('dev2->comp', 'C');
    const selfFirst = new Feed().acquire('t2', D2).complete('t2', c2).wait('t2', c2).release('t2', D2).acquire('t1', D1).wait('t1', c1).release('t1', D1);
    expect(selfFirst.findings()).toEqual([]);
    const waiterFirst = new Feed().acquire('t1', D1).wait('t1', c1).acquire('t2', D2).complete('t2', c2).wait('t2', c2).release('t2', D2).release('t1', D1);
    expect(waiterFirst.findings()).toEqual([]);
    // the same completion completed by another task that took the class during the wait: still the crosslock report
    const other = new Feed().acquire('t1', D1).waitStart('t1', c1).acquire('t3', D2).release('t3', D2).complete('t3', c1).waitDone('t1', c1).release('t1', D1);
    expect(kinds(other.findings())).toEqual(['lock-order-inversion']);
  });

  // issue 15 item 1: no dependency from a lock released before the wait began
  it('a completer that took and released a lock in an earlier, finished call adds nothing (dev_set->lock in VFIO_GROUP_GET_DEVICE_FD)', () => {
    const devSet = mutexRef('set->lock', 'dev_set->lock');
    const devLock = mutexRef('dev->lock', 'device_lock');
    const regComp = completionRef('vdev->comp', 'vfio_device->comp');
    // qemu: GET_DEVICE_FD (dev_set->lock) long done; the remover waits for the fd's close under device_lock and dev_set->lock is
    // taken elsewhere under device_lock; qemu then closes the fd (no lock) and completes
    const f = new Feed()
      .acquire('qemu', devSet).release('qemu', devSet)
      .acquire('rm', devLock).acquire('rm', devSet).release('rm', devSet).waitStart('rm', regComp)
      .complete('qemu', regComp).waitDone('rm', regComp).release('rm', devLock);
    expect(f.findings()).toEqual([]);
    // and in the other order of the same history (released before the wait, completed after): nothing either
    const g = new Feed()
      .acquire('rm', devLock).acquire('qemu', devSet).release('qemu', devSet).acquire('rm', devSet).release('rm', devSet).waitStart('rm', regComp)
      .complete('qemu', regComp).waitDone('rm', regComp).release('rm', devLock);
    expect(g.findings()).toEqual([]);
  });

  it('true positive: vfio unregister waits for the close under device_lock while the closer needs device_lock', () => {
    const devLock = mutexRef('dev->lock', 'device_lock');
    const regComp = completionRef('vdev->comp', 'vfio_device->comp');
    // the closer's blocking reset asks for device_lock after the remover began waiting: never granted (B10)
    const f = new Feed().acquire('rm', devLock).waitStart('rm', regComp).request('qemu', devLock).findings();
    expect(f).toEqual([]); // nothing completed yet: the deadlock checker sees the hang
    const g = new Feed().acquire('rm', devLock).waitStart('rm', regComp).acquire('qemu', devLock).release('qemu', devLock).complete('qemu', regComp);
    expect(g.findings().map((x) => x.signature)).toEqual(['lock-order-inversion|device_lock,vfio_device->comp|app.f']);
    // held at complete(): reported whichever side came first
    const h = new Feed().acquire('qemu', devLock).complete('qemu', regComp).release('qemu', devLock).acquire('rm', devLock).wait('rm', regComp).release('rm', devLock);
    expect(kinds(h.findings())).toEqual(['lock-order-inversion']);
  });
});

// ---- single-threaded contexts ---------------------------------------------------------------

describe('lockdep: single-threaded contexts (issue 15 item 1b)', () => {
  const R = rwsemRef('slot1->reset_lock', 'ctrl->reset_lock');
  const RR = mutexRef('pci_rescan_remove_lock');
  const ist = (f: Feed, task: string): Feed => f.context(task, 'pciehp_ist:slot1')
    .acquire(task, R, 'read').acquire(task, RR).release(task, R, 'read').acquire(task, R, 'read').release(task, R, 'read').release(task, RR).release(task, R, 'read')
    .context(task, null);

  it('two identical pciehp_ist chains of one controller are no inversion', () => {
    expect(ist(ist(new Feed(), 'ist'), 'ist').findings()).toEqual([]);
    // the same chains from two tasks that stand for the one IRQ thread
    expect(ist(ist(new Feed(), 'ist-a'), 'ist-b').findings()).toEqual([]);
  });

  it('the same chains without a context (two syscalls could overlap) are reported', () => {
    const f = new Feed().acquire('t', R, 'read').acquire('t', RR).release('t', R, 'read').acquire('t', R, 'read').release('t', R, 'read').release('t', RR).release('t', R, 'read');
    expect(kinds(f.findings())).toEqual(['lock-order-inversion']);
  });

  it('with the preloaded kernel order (edge 1 is pciehp_ist\'s alone): no two-lock report, the three-party one stays', () => {
    const fs = ist(new Feed(new Lockdep({ known: CANONICAL_ORDER })), 'ist').findings();
    // reset_lock → pci_rescan_remove_lock → device_lock → reset_lock (write, pciehp_reset_slot): three parties, real as read
    expect(fs.map((f) => f.signature.split('|')[1])).toEqual(['ctrl->reset_lock,device_lock,pci_rescan_remove_lock']);
    expect(fs[0]!.report).toContain('(declared order, docs/kernel-facts.md §1.2)');
  });

  it('a cycle one of whose dependencies another task made is reported, even when that task comes later', () => {
    // the IST's cycle first (dropped), then a concurrent task makes RR → R as well: now two parties can deadlock
    const f = ist(new Feed(), 'ist').acquire('t', RR).acquire('t', R, 'read').release('t', R, 'read').release('t', RR);
    expect(kinds(f.findings())).toEqual(['lock-order-inversion']);
  });
});

describe('lockdep: hand-overs between threads of one kind (issue 15, two hotplug slots)', () => {
  const RR = mutexRef('pci_rescan_remove_lock');
  const reset = (slot: string): LockRef => rwsemRef(`${slot}->reset_lock`, 'ctrl->reset_lock');
  // pciehp_ist() of `slot`: reset_lock (read) → pci_rescan_remove_lock, and reset_lock retaken under it (pciehp_unconfigure_device)
  const ist = (f: Feed, task: string, slot: string, taken: LockRef = reset(slot)): Feed => f.context(task, `pciehp_ist:${slot}`)
    .acquire(task, taken, 'read').acquire(task, RR).release(task, taken, 'read').acquire(task, taken, 'read').release(task, taken, 'read').release(task, RR).release(task, taken, 'read')
    .context(task, null);

  it('the IRQ threads of two controllers, each on its own reset_lock, make no inversion', () => {
    expect(ist(ist(new Feed(), 'ist1', 'slot1'), 'ist2', 'slot2').findings()).toEqual([]);
  });

  it('nor with the preloaded order (its pciehp_ist:* edge takes the thread\'s own reset_lock): only the three-party cycle', () => {
    const fs = ist(ist(new Feed(new Lockdep({ known: CANONICAL_ORDER })), 'ist1', 'slot1'), 'ist2', 'slot2').findings();
    expect(fs.map((f) => f.signature.split('|')[1])).toEqual(['ctrl->reset_lock,device_lock,pci_rescan_remove_lock']);
  });

  it('one thread taking the other controller\'s reset_lock can wait for it: reported', () => {
    // slot2's thread retakes slot1's lock (as a parent port's IRQ thread takes a child controller's in pciehp_free_irq)
    const f = ist(ist(new Feed(), 'ist1', 'slot1'), 'ist2', 'slot2', reset('slot1'));
    expect(kinds(f.findings())).toEqual(['lock-order-inversion']);
  });

  it('a concurrent task on one controller\'s lock allows the hand-over, as in lockdep', () => {
    const f = ist(new Feed(), 'ist1', 'slot1').acquire('t', RR).acquire('t', reset('slot2'), 'read').release('t', reset('slot2'), 'read').release('t', RR);
    expect(kinds(f.findings())).toEqual(['lock-order-inversion']);
  });
});

// ---- misuse ----------------------------------------------------------------------------------

describe('lockdep: misuse', () => {
  it('bad unlock balance from the lock manager', () => {
    const f = new Feed().misuse('t1', A, 'unlock of a mutex that is not locked').findings();
    expect(kinds(f)).toEqual(['lock-misuse']);
    expect(f[0]!.signature).toBe('lock-misuse|bad-unlock|A|app.f');
    expect(f[0]!.report).toMatch(/WARNING: bad unlock balance detected!\n7\.0\.0-iommu-lab #1 Not tainted\n-{37}\nt1\/\d+ is trying to release lock \(A\) at:\nf\nbut there are no more locks to release!\n/);
    const g = new Feed().misuse('t2', A, 'unlock of a mutex held by another task', 't1').findings();
    expect(g[0]!.report).toMatch(/but the lock is held by t1\/\d+, not by t2\/\d+!/);
  });

  it('an op of the wrong lock kind is misuse of its own signature', () => {
    const f = new Feed().misuse('t1', A, 'wrong lock kind: down_read on a mutex (a rwsem operation)').findings();
    expect(f[0]!.signature).toBe('lock-misuse|wrong-kind|A|app.f');
  });

  it('locks held at task end: user-space return for a root task, exit for a spawned one', () => {
    const root = new Feed().start('t1').acquire('t1', A).end('t1').findings();
    expect(kinds(root)).toEqual(['lock-misuse']);
    expect(root[0]!.signature).toBe('lock-misuse|held-at-exit|A|app.f');
    expect(root[0]!.report).toContain('WARNING: lock held when returning to user space!');
    const child = new Feed().start('t1').start('t1.1', 't1').acquire('t1.1', A).end('t1.1').findings();
    expect(child[0]!.report).toMatch(/WARNING: t1\.1\/\d+ still has locks held!/);
    expect(new Feed().start('t1').take2('t1', A, B).end('t1').findings()).toEqual([]);
  });

  it('freeing the object that contains a held lock', () => {
    const lock = groupMutex('group0');
    const f = new Feed().acquire('t1', lock).free('t1', 'group0').findings();
    expect(kinds(f)).toEqual(['lock-misuse']);
    expect(f[0]!.signature).toBe('lock-misuse|held-lock-freed|group->mutex|app.f');
    expect(f[0]!.report).toMatch(/t1\/\d+ is freeing memory ffff8880[0-9a-f]{8}, with a lock still held there!/);
    expect(f[0]!.report).toMatch(/iommu-lab: +ffff8880[0-9a-f]{8} group0$/m);
    const other = new Feed().acquire('t1', lock).free('t2', 'group0').findings();
    expect(other[0]!.report).toMatch(/with a lock still held there by t1\/\d+!/);
    expect(new Feed().acquire('t1', lock).free('t1', 'group1').findings()).toEqual([]);
    expect(new Feed().acquire('t1', lock).release('t1', lock).free('t1', 'group0').findings()).toEqual([]);
  });

  it('failed assertions are assert-held; passing ones are silent', () => {
    const f = new Feed().assert('t1', A, true, false).assert('t1', B, false, false).assert('t1', C, true, true).findings();
    expect(f.map((x) => x.signature)).toEqual(['assert-held|held|A|app.f', 'assert-held|not-held|B|app.f']);
    expect(f[0]!.report).toContain('lockdep_assert_held(A)');
    expect(f[1]!.report).toContain('lockdep_assert_not_held(B)');
  });
});

// ---- the kernel's own order, preloaded ---------------------------------------------------------

describe('lockdep: known kernel order', () => {
  it('a model that takes group->mutex then device_lock inverts the kernel order', () => {
    const ld = new Lockdep({ known: CANONICAL_ORDER });
    const f = new Feed(ld).acquire('t1', groupMutex('g0')).acquire('t1', deviceLock('0000:01:00.0')).findings();
    expect(f.map((x) => x.signature)).toEqual(['lock-order-inversion|device_lock,group->mutex|app.f,kernel']);
    expect(f[0]!.report).toContain('iommu_device_use_default_domain drivers/iommu/iommu.c');
    expect(new Feed(new Lockdep({ known: CANONICAL_ORDER })).acquire('t1', deviceLock('d')).acquire('t1', groupMutex('g')).findings()).toEqual([]);
  });

  it('draws the graph as DOT', () => {
    const ld = new Lockdep();
    new Feed(ld).take2('t1', A, B).acquire('t1', A).wait('t1', completionRef('c')).release('t1', A);
    expect(ld.dot()).toBe('digraph lockdep {\n  rankdir=LR;\n  "A";\n  "B";\n  "c" [shape=box];\n  "A" -> "B" [label="EN"];\n  "A" -> "c" [label="EN"];\n}\n');
  });
});

describe('lockdep: the preloaded order as data (issue 14 item 5)', () => {
  it('a declared edge prints as declared order with its source, in the splat and in the DOT label alike', () => {
    const ld = new Lockdep({ known: [{ outer: 'device_lock', inner: 'group->mutex', via: 'drivers/iommu/iommu.c: iommu_device_use_default_domain' }] });
    const f = new Feed(ld).take2('t1', groupMutex('g'), deviceLock('d')).findings();
    // the chain entry and the DOT label name the same function and the same declared-order line
    expect(f[0]!.report).toMatch(/iommu_device_use_default_domain[^\n]*\n {7}\(declared order, docs\/kernel-facts\.md §1\.2\)\n/);
    expect(ld.dot()).toMatch(/"device_lock" -> "group->mutex" \[label="EN\\n[^"]*iommu_device_use_default_domain\\n\(declared order, docs\/kernel-facts\.md §1\.2\)", style=dashed\];/);
  });
});

// ---- in the runtime: prediction, stability, report text -------------------------------------------

async function execute(program: Program, seed: number, execution = 0): Promise<{ outcome: string; findings: readonly Finding[] }> {
  const host = await InlineHost.create(program);
  await host.reset();
  const r = await runExecution(host, program, new RandomStrategy(seed), { seed, execution, checkers: [new Lockdep()] });
  await host.close();
  return r;
}

const selftestCase = (name: string): Program => {
  const c = lockingSelftestCases().find((x) => x.name === name);
  if (c === undefined) throw new Error(`no selftest case ${name}`);
  return c.program;
};

describe('lockdep in a run', () => {
  it('predicts ABBA on the first schedule although the tasks ran strictly one after the other', async () => {
    for (let seed = 1; seed <= 10; seed++) {
      const r = await execute(selftestCase('ABBA'), seed, 0);
      expect(r.outcome).toBe('completed');
      expect(r.findings.map((f) => f.signature)).toEqual(['lock-order-inversion|A,B|selftest.run']);
    }
  });

  it('reports the concurrent ABBA whether or not the schedule deadlocked, with one signature', async () => {
    const outcomes = new Set<string>();
    const sigs = new Set<string>();
    for (let seed = 1; seed <= 20; seed++) {
      const r = await execute(abbaProgram('abba'), seed);
      outcomes.add(r.outcome);
      const inv = r.findings.filter((f) => f.kind === 'lock-order-inversion');
      expect(inv.length).toBe(1);
      sigs.add(inv[0]!.signature);
    }
    expect([...outcomes].sort()).toEqual(['completed', 'deadlock']);
    expect([...sigs]).toEqual(['lock-order-inversion|A,B|app.take_two']);
    for (let seed = 1; seed <= 5; seed++) expect((await execute(abbaProgram('ordered'), seed)).findings).toEqual([]);
  });

  it('prints the ABBA inversion as lockdep does (golden)', async () => {
    const r = await execute(selftestCase('ABBA'), 1);
    const report = r.findings[0]!.report;
    golden('lockdep-abba.txt', report);
    // The splat's sections, in the kernel's order.
    const sections = [
      'WARNING: possible circular locking dependency detected',
      'is trying to acquire lock:',
      'but task is already holding lock:',
      'which lock already depends on the new lock.',
      'the existing dependency chain (in reverse order) is:',
      '-> #1 (B):',
      '-> #0 (A):',
      'other info that might help us debug this:',
      ' Possible unsafe locking scenario:',
      '       CPU0                    CPU1',
      ' *** DEADLOCK ***',
      '1 lock held by',
      'stack backtrace:',
    ];
    let at = 0;
    for (const s of sections) {
      const i = report.indexOf(s, at);
      expect(i, s).toBeGreaterThanOrEqual(at);
      at = i + s.length;
    }
  });

  it('prints recursive locking and a completion cycle as lockdep does (golden)', async () => {
    golden('lockdep-aa.txt', (await execute(selftestCase('parent-child device_lock'), 1)).findings[0]!.report);
    golden('lockdep-completion.txt', (await execute(selftestCase('completion wait under lock vs completer taking it'), 1)).findings[0]!.report);
  });
});
