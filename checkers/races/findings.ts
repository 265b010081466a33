import type { UnguardedHit } from './lockset.ts';
import { printDataRace, printLostUpdate, printUnguarded, raceTitle } from './print.ts';
import type { TypeOf } from './print.ts';
import type { Access, RaceHit } from './shadow.ts';
import { sortedSites, whereOf } from '../sites.ts';
import { describeHeld } from '../held-locks.ts';
import type { Finding, TaskSnapshot } from '../../protocol/findings.ts';
import type { ActorId } from '../../protocol/ids.ts';

/**
 * Findings from the race checker's hits. Signatures are built only from
 * things that do not change with the seed, the schedule or the host: the
 * kind, the object type and field, and the sorted actor.handler sites —
 * never task ids, object ids or step numbers. A data race's title names
 * every function it involves in sorted order ("data-race in a / b", KCSAN's
 * title), so it is as stable as the signature and two races of one function
 * with different partners do not share a headline.
 */

function snapshot(a: Access): TaskSnapshot {
  return { task: a.task, stack: a.stack, held: a.held.map(describeHeld), waitsFor: null };
}

function titled(kind: Finding['kind'], sites: readonly string[], accesses: readonly Access[]): Pick<Finding, 'title' | 'actor' | 'handler'> {
  const first = sortedSites(sites)[0] ?? '?';
  const w = accesses.map((a) => whereOf(a.stack)).find((x) => x.site === first) ?? whereOf([]);
  return { title: `${kind} in ${raceTitle(sites)}`, actor: w.actor as ActorId, handler: w.handler };
}

/** The sites a hit involves, in the order the report prints the accesses. */
function sitesOf(hit: RaceHit): string[] {
  switch (hit.what) {
    case 'race':
      return [whereOf(hit.prev.stack).site, whereOf(hit.cur.stack).site];
    case 'lost-update':
      return [...new Set([hit.read, hit.other, hit.write].map((a) => whereOf(a.stack).site))];
  }
}

export function raceSignature(hit: RaceHit, typeOf: TypeOf): string {
  const sites = sortedSites(sitesOf(hit));
  switch (hit.what) {
    case 'race':
      return ['data-race', `${typeOf(hit.cur.obj)}.${hit.cur.field}`, ...sites].join('|');
    case 'lost-update':
      return ['data-race', `${typeOf(hit.write.obj)}.${hit.write.field}`, 'lost-update', ...sites].join('|');
  }
}

export function raceFinding(hit: RaceHit, typeOf: TypeOf): Finding {
  const sites = sitesOf(hit);
  const signature = raceSignature(hit, typeOf);
  switch (hit.what) {
    case 'race':
      return {
        kind: 'data-race', ...titled('data-race', sites, [hit.prev, hit.cur]), signature,
        tasks: [snapshot(hit.prev), snapshot(hit.cur)],
        report: printDataRace(hit, typeOf),
      };
    case 'lost-update':
      return {
        kind: 'data-race', ...titled('data-race', sites, [hit.read, hit.other, hit.write]), signature,
        tasks: [snapshot(hit.read), snapshot(hit.other), snapshot(hit.write)],
        report: printLostUpdate(hit, typeOf),
      };
  }
}

export function unguardedSignature(hit: UnguardedHit, typeOf: TypeOf): string {
  const a = hit.access;
  return ['unguarded-access', `${typeOf(a.obj)}.${a.field}`, whereOf(a.stack).site].join('|');
}

export function unguardedFinding(hit: UnguardedHit, typeOf: TypeOf): Finding {
  const a = hit.access;
  const w = whereOf(a.stack);
  return {
    kind: 'unguarded-access',
    title: `unguarded-access in ${w.site}`,
    signature: unguardedSignature(hit, typeOf),
    actor: w.actor as ActorId,
    handler: w.handler,
    tasks: [snapshot(a)],
    report: printUnguarded(hit, typeOf),
  };
}
