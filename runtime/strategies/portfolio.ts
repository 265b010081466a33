import type { Strategy } from './strategy.ts';
import type { TaskId } from '../../protocol/ids.ts';

/**
 * Runs its member strategies round-robin, one execution each, the way
 * Coyote's portfolio mixes random walks with PCT of several depths: shallow
 * bugs fall to random choice early, deeper orderings to PCT.
 */
export class PortfolioStrategy implements Strategy {
  readonly name = 'portfolio';
  private readonly members: readonly Strategy[];
  private current: Strategy;

  constructor(members: readonly Strategy[]) {
    if (members.length === 0) throw new Error('portfolio needs at least one strategy');
    this.members = members;
    this.current = members[0] as Strategy;
  }

  begin(execution: number): void {
    this.current = this.members[execution % this.members.length] as Strategy;
    this.current.begin(Math.floor(execution / this.members.length));
  }

  pick(enabled: readonly TaskId[], step: number, where: readonly string[]): number {
    return this.current.pick(enabled, step, where);
  }

  end(steps: number): void {
    for (const m of this.members) m.end?.(steps);
  }
}
