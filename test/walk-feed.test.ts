import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CheckerFeed } from '../checkers/checker.ts';
import type { Checker } from '../checkers/checker.ts';
import type { LockRef, TraceEvent, WalkEvent } from '../protocol/events.ts';
import type { Finding } from '../protocol/findings.ts';
import type { ActorId, LockId, ObjId, TaskId } from '../protocol/ids.ts';
import { runExecution } from '../runtime/execution.ts';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { ReplayStrategy } from '../runtime/strategies/replay.ts';
import { kernelCheckers } from '../scenarios/kernel/checkers.ts';
import { stressPrograms } from '../stress/checking.ts';

/**
 * A list walk is one event (Kernel.walk); checkers with `onWalk` take it
 * whole, the others one read per object (CheckerFeed). Whole or read by
 * read, a checker must end in the same state with the same findings: here
 * the same checkers are fed both ways, the second time behind a wrapper
 * that hides `onWalk`, so the feed hands them the reads one by one.
 */

/**
 * `c` behind a wrapper that hands it everything: without `onWalk` (`whole`
 * false) the feed gives it one read per object of a walk; `onWalk` is told
 * of each walk handed whole.
 */
function delegate(c: Checker, whole: boolean, onWalk: (e: WalkEvent) => void = () => {}): Checker {
  return {
    name: c.name,
    ...(c.eventKinds !== undefined ? { eventKinds: c.eventKinds } : {}),
    ...(c.spawnsOnly === true ? { spawnsOnly: true } : {}),
    ...(c.heldLocks !== undefined ? { heldLocks: c.heldLocks } : {}),
    ...(c.callsOf !== undefined ? { callsOf: c.callsOf.bind(c) } : {}),
    ...(c.drainsOnlyAfterEvents === true ? { drainsOnlyAfterEvents: true } : {}),
    ...(c.setupEnded !== undefined ? { setupEnded: c.setupEnded.bind(c) } : {}),
    ...(whole && c.onWalk !== undefined ? {
      onWalk: (e: WalkEvent, step: number) => {
        onWalk(e);
        c.onWalk?.(e, step);
      },
    } : {}),
    onEvent: (e, step) => c.onEvent(e, step),
    drain: () => c.drain(),
    finish: () => c.finish?.(),
  };
}

const ACTOR = 'vfio' as ActorId;
const GROUP_LOCK: LockRef = { id: 'vfio.group_lock' as LockId, cls: 'vfio.group_lock', kind: 'mutex' };
const T1 = 'probe1' as TaskId;
const T2 = 'probe2' as TaskId;
const GROUPS = ['vfio_group.1', 'vfio_group.2', 'vfio_group.3'] as ObjId[];

const base = (task: TaskId, fn: string) => ({ task, actor: ACTOR, stack: [`vfio:${fn}`] });

/**
 * T1 makes three vfio groups under vfio.group_lock and frees the second;
 * T2 walks the list without the lock: an unguarded read of each, a race
 * with each of T1's writes, and a read of the freed group.
 */
function events(): TraceEvent[][] {
  const steps: TraceEvent[][] = [];
  steps.push([{ ev: 'task.start', parent: null, ...base(T1, 'probe') }, { ev: 'task.start', parent: null, ...base(T2, 'probe') }]);
  steps.push([
    { ev: 'lock.request', lock: GROUP_LOCK, mode: 'write', try: false, ...base(T1, 'vfio_create_group') },
    { ev: 'lock.acquired', lock: GROUP_LOCK, mode: 'write', try: false, ok: true, ...base(T1, 'vfio_create_group') },
  ]);
  steps.push(GROUPS.flatMap((g, i): TraceEvent[] => [
    { ev: 'alloc', obj: g, type: 'vfio_group', ...base(T1, 'vfio_create_group') },
    { ev: 'access', obj: g, field: 'iommu_group', op: 'write', guard: GROUP_LOCK.id, lockless: false, value: `iommu_group.${i + 1}`, old: undefined, ...base(T1, 'vfio_create_group') },
  ]));
  steps.push([
    { ev: 'lock.released', lock: GROUP_LOCK, mode: 'write', ...base(T1, 'vfio_create_group') },
    { ev: 'free', obj: GROUPS[1] as ObjId, ...base(T1, 'vfio_group_put') },
  ]);
  const walk: WalkEvent = {
    ev: 'access', obj: GROUPS[0] as ObjId, field: 'iommu_group', op: 'read', guard: GROUP_LOCK.id, lockless: false, value: 'iommu_group.1',
    walk: { objs: GROUPS, values: ['iommu_group.1', 'iommu_group.2', 'iommu_group.3'] }, ...base(T2, 'vfio_group_find_from_iommu'),
  };
  steps.push([walk]);
  steps.push([{ ev: 'task.end', ...base(T1, 'probe') }, { ev: 'task.end', ...base(T2, 'probe') }]);
  return steps;
}

/** Feeds `steps` to `checkers` as a run does (drains after each step, finish at the end); the findings in order. */
function feedAll(checkers: readonly Checker[], steps: readonly (readonly TraceEvent[])[]): Finding[] {
  const feed = new CheckerFeed(checkers);
  const out: Finding[] = [];
  steps.forEach((evs, step) => {
    for (const e of evs) feed.feed(e, step);
    for (const c of checkers) out.push(...c.drain());
  });
  for (const c of checkers) {
    c.finish?.();
    out.push(...c.drain());
  }
  return out;
}

describe('a walk is judged the same whole or read by read', () => {
  it('finds the same use-after-free, race and unguarded reads, and leaves the checkers in the same state', () => {
    const whole = kernelCheckers();
    const byRead = kernelCheckers();
    const a = feedAll(whole, events());
    const b = feedAll(byRead.map((c) => delegate(c, false)), events());
    // the walk found something in each of the three checkers that judge reads (else this test would prove nothing)
    const kinds = new Set(a.map((f) => f.kind));
    expect(kinds).toContain('use-after-free');
    expect(kinds).toContain('data-race');
    expect([...kinds].some((k) => k.startsWith('unguarded'))).toBe(true);
    expect(b).toEqual(a);
    whole.forEach((c, i) => expect(isDeepStrictEqual(c, byRead[i]), c.name).toBe(true));
  });

  it('boots a stress machine to the same checker state (its VFIO probes walk vfio.group_list)', async () => {
    const { hostProgram, bootProgram } = stressPrograms({ devices: 64, units: 4, seed: 1, tasks: 8, variants: {} });
    const boot = async (whole: boolean): Promise<{ checkers: Checker[]; findings: readonly Finding[]; walked: number }> => {
      const checkers = kernelCheckers();
      let walked = 0;
      const fed = checkers.map((c) => delegate(c, whole, (e) => {
        walked = Math.max(walked, e.walk.objs.length);
      }));
      const host = await InlineHost.create(hostProgram);
      try {
        const r = await runExecution(host, bootProgram, new ReplayStrategy([]), { seed: 1, checkers: fed, maxSteps: Number.MAX_SAFE_INTEGER });
        expect(r.outcome).toBe('completed');
        return { checkers, findings: r.findings, walked };
      } finally {
        await host.close();
      }
    };
    const whole = await boot(true);
    const byRead = await boot(false);
    // some probe walked past several groups, and whole walks went to the checkers that take them
    expect(whole.walked).toBeGreaterThan(2);
    expect(byRead.walked).toBe(0);
    expect(byRead.findings).toEqual(whole.findings);
    whole.checkers.forEach((c, i) => expect(isDeepStrictEqual(c, byRead.checkers[i]), c.name).toBe(true));
  }, 60_000);
});
