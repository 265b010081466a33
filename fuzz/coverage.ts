import type { Checker } from '../checkers/checker.ts';
import { NO_FINDINGS } from '../checkers/checker.ts';
import { ObjectTypes } from '../checkers/lifetime/object-types.ts';
import { Lockdep } from '../checkers/lockdep/lockdep.ts';
import { isErrno } from '../protocol/errno.ts';
import type { TraceEvent } from '../protocol/events.ts';
import type { ObjId } from '../protocol/ids.ts';
import type { Finding } from '../protocol/findings.ts';
import type { Host } from '../runtime/hosts/host.ts';
import type { StepResult } from '../protocol/step.ts';

/**
 * What a fuzz execution covered, as a set of short keys. Three families,
 * all independent of instance ids so that two machines that differ only in
 * names cover the same keys:
 *
 * - `lock:A>B` — a lock-dependency edge lockdep saw taken (not one of the
 *   preloaded kernel orders): new lock orders are what a concurrency fuzzer
 *   is after;
 * - `ret:actor.handler:E` — a handler's outcome: 0/value (`ok`) or the errno
 *   it returned (`EBUSY`), per actor kind;
 * - `st:type.field:old>new` — an object field's state transition, with the
 *   values abstracted (null, booleans, small numbers, object types, sizes);
 *   plus `dma:outcome:via` for device DMA outcomes.
 */

/** An actor id without its instance number: "unit:vtd0" → "unit:vtd". */
const actorKind = (a: string): string => a.replace(/\d+$/, '');

const BDF = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]/;

/** A value as coverage sees it: its shape, never an instance id. */
function shape(v: unknown, types: ObjectTypes): string {
  if (v === null || v === undefined) return '-';
  switch (typeof v) {
    case 'boolean':
      return v ? 't' : 'f';
    case 'number':
      return Number.isInteger(v) && v >= 0 && v < 16 ? String(v) : 'n';
    case 'string': {
      if (BDF.test(v)) return 'bdf';
      const t = types.of(v as ObjId);
      return t !== '?' && t !== v ? `@${t}` : v.replace(/\d+/g, '#').slice(0, 32);
    }
    case 'object':
      if (Array.isArray(v)) return `[${v.length < 3 ? v.length : 'n'}]`;
      return isErrno(v) ? v.errno : `{${Object.keys(v).length === 0 ? '' : 'n'}}`;
    default:
      return typeof v;
  }
}

/** The checker half of coverage: state transitions and DMA outcomes from the event stream. */
export class CoverageChecker implements Checker {
  readonly name = 'coverage';
  readonly keys = new Set<string>();
  private readonly types = new ObjectTypes();

  onEvent(e: TraceEvent): void {
    this.types.onEvent(e);
    switch (e.ev) {
      case 'access':
        if (e.op === 'write') {
          const field = e.field.replace(/\d+/g, '#').replace(/0x[0-9a-f#]+/gi, '0x#');
          this.keys.add(`st:${this.types.of(e.obj)}.${field}:${shape(e.old, this.types)}>${shape(e.value, this.types)}`);
        }
        return;
      case 'dma':
        this.keys.add(`dma:${e.outcome}:${e.via ?? '-'}${e.pasid !== null ? ':pasid' : ''}`);
        return;
      case 'lock.acquired':
        if (e.try && !e.ok) this.keys.add(`trylock-fail:${e.lock.cls}`);
        return;
      default:
        return;
    }
  }

  drain(): readonly Finding[] {
    return NO_FINDINGS;
  }

  /** Adds lockdep's taken edges (call after the execution). */
  addLockEdges(checkers: readonly Checker[]): void {
    const lockdep = checkers.find((c): c is Lockdep => c instanceof Lockdep);
    if (lockdep === undefined) return;
    for (const e of lockdep.dependencies()) if (e.trace.via !== 'known') this.keys.add(`lock:${e.from}>${e.to}`);
  }
}

/**
 * Watches the replies a host's actors send: each is a handler's outcome.
 * The scheduler never sees reply bodies (checkers get `send` events without
 * them), so the tap sits on the host's step results. Returns a function
 * that removes the tap.
 */
export function tapOutcomes(host: Host, into: () => Set<string> | null): () => void {
  const original = host.executeThen.bind(host);
  const tapped = (actor: Parameters<Host['executeThen']>[0], cmd: Parameters<Host['executeThen']>[1], done: (r: StepResult) => void): void => {
    original(actor, cmd, (r) => {
      const keys = into();
      if (keys !== null) {
        for (const m of r.out) {
          if (m.kind !== 'reply' || m.from === 'locks') continue;
          const v = m.body;
          keys.add(`ret:${actorKind(m.from)}.${m.op}:${isErrno(v) ? v.errno : 'ok'}`);
        }
      }
      done(r);
    });
  };
  (host as { executeThen: Host['executeThen'] }).executeThen = tapped;
  return () => {
    (host as { executeThen: Host['executeThen'] }).executeThen = original;
  };
}
