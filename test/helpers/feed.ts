import type { Checker } from '../../checkers/checker.ts';
import type { TraceEvent } from '../../protocol/events.ts';
import type { Finding } from '../../protocol/findings.ts';

/**
 * Feeds a checker one event per step and drains it after each, as a run
 * does, then finishes it. Returns the findings with the step each came out
 * at (`events.length` for those made by `finish`).
 */
export function feed(c: Checker, events: readonly TraceEvent[]): { readonly findings: Finding[]; readonly at: number[] } {
  const findings: Finding[] = [];
  const at: number[] = [];
  events.forEach((e, i) => {
    c.onEvent(e, i);
    for (const f of c.drain()) (findings.push(f), at.push(i));
  });
  c.finish?.();
  for (const f of c.drain()) (findings.push(f), at.push(events.length));
  return { findings, at };
}
