import type { Strategy } from './strategy.ts';
import type { TaskId } from '../../protocol/ids.ts';

/**
 * Follows a recorded list of decisions. When the recording runs out (a
 * free-mode record cut short by the watchdog) it goes on with the first
 * enabled step, deterministically; `diverged` tells when a recorded step was
 * not enabled, i.e. the recording does not fit this program.
 */
export class ReplayStrategy implements Strategy {
  readonly name = 'replay';
  private readonly decisions: readonly TaskId[];
  diverged: { step: number; wanted: TaskId; enabled: readonly TaskId[] } | null = null;

  constructor(decisions: readonly TaskId[]) {
    this.decisions = decisions;
  }

  begin(): void {
    this.diverged = null;
  }

  pick(enabled: readonly TaskId[], step: number): number {
    if (step >= this.decisions.length) return 0;
    const want = this.decisions[step] as TaskId;
    const i = enabled.indexOf(want);
    if (i < 0) this.diverged = { step, wanted: want, enabled: [...enabled] };
    return i;
  }
}
