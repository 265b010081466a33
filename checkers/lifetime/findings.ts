import type { LifetimeHit, Site } from './objects.ts';
import { printRefcountLeak, printRefcountUnderflow, printUseAfterFree } from './print.ts';
import { describeHeld } from '../held-locks.ts';
import { whereOf } from '../sites.ts';
import type { Finding, TaskSnapshot } from '../../protocol/findings.ts';
import type { ActorId } from '../../protocol/ids.ts';

/**
 * Findings from the lifetime checker's hits. Signatures follow syzbot's
 * titles, which dedupe these bugs in the wild: "KASAN: slab-use-after-free
 * Read in f" (the using site, whichever path freed it — in a race the freer
 * changes with the schedule), "WARNING: refcount bug in f" (the put),
 * "memory leak in f" (the allocating site); each plus the object type, never
 * task or object ids.
 */

function snapshot(s: Site): TaskSnapshot {
  return { task: s.task, stack: s.stack, held: s.held.map(describeHeld), waitsFor: null };
}

export function lifetimeSignature(hit: LifetimeHit): string {
  switch (hit.what) {
    case 'use-after-free':
      return ['use-after-free', hit.type, hit.bug === 'double-free' ? 'double-free' : hit.access, whereOf(hit.use.stack).site].join('|');
    case 'refcount-underflow':
      return ['refcount-underflow', hit.type, whereOf(hit.put.stack).site].join('|');
    case 'refcount-leak':
      return ['refcount-leak', hit.type, whereOf(hit.alloc.stack).site].join('|');
  }
}

export function lifetimeFinding(hit: LifetimeHit): Finding {
  const signature = lifetimeSignature(hit);
  switch (hit.what) {
    case 'use-after-free': {
      const w = whereOf(hit.use.stack);
      const tasks = [snapshot(hit.use), snapshot(hit.free)];
      if (hit.alloc !== null) tasks.push(snapshot(hit.alloc));
      return { kind: 'use-after-free', title: `use-after-free in ${w.site}`, signature, actor: w.actor as ActorId, handler: w.handler, tasks, report: printUseAfterFree(hit) };
    }
    case 'refcount-underflow': {
      const w = whereOf(hit.put.stack);
      const tasks = [snapshot(hit.put)];
      if (hit.free !== null) tasks.push(snapshot(hit.free));
      return { kind: 'refcount-underflow', title: `refcount-underflow in ${w.site}`, signature, actor: w.actor as ActorId, handler: w.handler, tasks, report: printRefcountUnderflow(hit) };
    }
    case 'refcount-leak': {
      const w = whereOf(hit.alloc.stack);
      return { kind: 'refcount-leak', title: `refcount-leak in ${w.site}`, signature, actor: w.actor as ActorId, handler: w.handler, tasks: [snapshot(hit.alloc)], report: printRefcountLeak(hit) };
    }
  }
}
