import type { Checker } from './checker.ts';
import { NO_FINDINGS } from './checker.ts';
import type { Finding } from '../protocol/findings.ts';
import type { TraceEvent } from '../protocol/events.ts';

/**
 * Which patched kernel functions (and patched handlers) ran: every run of
 * one announces itself with an `fn.patched` event (runtime/kfunc.ts,
 * runtime/patch.ts). A run sums these over its executions and reports the
 * patched names that no schedule reached (`unusedPatches`), so a patch that
 * misses its target — a function the scenario never calls — is visible
 * instead of silently giving upstream's results. It makes no findings.
 */
export class PatchReach implements Checker {
  readonly name = 'patch-reach';
  /** "actor\0name" of every patched function or handler that ran. */
  readonly reached = new Set<string>();

  onEvent(e: TraceEvent): void {
    if (e.ev === 'fn.patched') this.reached.add(`${e.actor}\0${e.fn}`);
  }

  drain(): readonly Finding[] {
    return NO_FINDINGS;
  }
}
