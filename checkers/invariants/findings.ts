import { printViolation } from './print.ts';
import type { Violation } from './rules.ts';
import { describeHeld } from '../held-locks.ts';
import { whereOf } from '../sites.ts';
import type { Finding, TaskSnapshot } from '../../protocol/findings.ts';
import type { ActorId } from '../../protocol/ids.ts';

/**
 * Findings from violations. The site is the `actor.handler` of the last
 * change (the write, or the free) among the fields the rule reads; the
 * signature is the invariant id plus that site, never object ids or steps,
 * so the same bug found under another seed, host or interleaving dedupes.
 */

export function invariantSignature(v: Violation): string {
  return `invariant-violation:${v.replacement?.name ?? v.invariant}:${v.change === null ? '?' : whereOf(v.change.stack).site}`;
}

export function invariantFinding(v: Violation): Finding {
  const c = v.change;
  const w = c === null ? null : whereOf(c.stack);
  const tasks: TaskSnapshot[] = c === null ? [] : [{ task: c.task, stack: c.stack, held: c.held.map(describeHeld), waitsFor: null }];
  return {
    kind: 'invariant-violation',
    title: `invariant-violation in ${w === null ? '?' : w.site}`,
    signature: invariantSignature(v),
    actor: w === null ? null : (w.actor as ActorId),
    handler: w === null ? null : w.handler,
    tasks,
    report: printViolation(v),
  };
}
