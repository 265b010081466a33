import type { Strategy } from '../strategies/strategy.ts';
import type { TaskId } from '../../protocol/ids.ts';

/**
 * Lenient replays: strategies that follow a recorded list of decisions as
 * far as the (changed) program lets them and never diverge. They steer the
 * candidates of a shrink, whose programs or schedules no longer fit the
 * recording step for step. Both remember the task they ran last; when the
 * recording says nothing useful they continue it (fewer context switches),
 * or else take the first enabled task.
 */

abstract class Lenient implements Strategy {
  abstract readonly name: string;
  protected last: TaskId | null = null;

  begin(): void {
    this.last = null;
    this.restart();
  }

  protected abstract restart(): void;
  protected abstract choose(enabled: readonly TaskId[]): number;

  pick(enabled: readonly TaskId[]): number {
    let i = this.choose(enabled);
    if (i < 0) {
      const cont = this.last === null ? -1 : enabled.indexOf(this.last);
      i = cont < 0 ? 0 : cont;
    }
    this.last = enabled[i] as TaskId;
    this.onPicked(this.last);
    return i;
  }

  protected onPicked(_t: TaskId): void {}
}

/**
 * Walks the recording with a cursor: takes the first recorded task at or
 * after the cursor that is enabled now and moves the cursor past it. Steps
 * of tasks that are gone (their ops dropped) are skipped over.
 */
/** How many steps each task took in a list of decisions. */
export function stepsPerTask(decisions: readonly TaskId[]): Map<TaskId, number> {
  const out = new Map<TaskId, number>();
  for (const t of decisions) out.set(t, (out.get(t) ?? 0) + 1);
  return out;
}

export class FollowStrategy extends Lenient {
  readonly name = 'follow';
  private readonly plan: readonly TaskId[];
  private at = 0;

  constructor(plan: readonly TaskId[]) {
    super();
    this.plan = plan;
  }

  protected restart(): void {
    this.at = 0;
  }

  protected choose(enabled: readonly TaskId[]): number {
    for (let j = this.at; j < this.plan.length; j++) {
      const i = enabled.indexOf(this.plan[j] as TaskId);
      if (i >= 0) {
        this.at = j + 1;
        return i;
      }
    }
    this.at = this.plan.length;
    return -1;
  }
}

/**
 * Keeps each task's steps in their recorded relative order: the k-th step
 * of a task ranks where the recording had that task's k-th step, and the
 * enabled task with the earliest rank runs. Tasks the recording does not
 * know (or steps beyond what it recorded) rank last.
 *
 * With `shift` (per task, how many steps shorter it got: the steps of the
 * ops it lost) the task's k-th step ranks where the recording had its
 * (k+shift)-th: when a task lost an op before the one that matters, the
 * steps of that one still meet the other tasks where they did. A task that
 * got longer ranks its extra first steps before everything.
 */
export class OrderStrategy extends Lenient {
  readonly name: string;
  private readonly positions = new Map<TaskId, number[]>();
  private readonly shift = new Map<TaskId, number>();
  private readonly taken = new Map<TaskId, number>();

  constructor(plan: readonly TaskId[], shift: ReadonlyMap<TaskId, number> | null = null) {
    super();
    this.name = shift === null ? 'order' : 'order-shifted';
    plan.forEach((t, i) => {
      const l = this.positions.get(t);
      if (l === undefined) this.positions.set(t, [i]);
      else l.push(i);
    });
    for (const [t, n] of shift ?? []) this.shift.set(t, n);
  }

  private rank(t: TaskId): number {
    const at = (this.taken.get(t) ?? 0) + (this.shift.get(t) ?? 0);
    if (at < 0) return -1;
    return this.positions.get(t)?.[at] ?? Infinity;
  }

  protected restart(): void {
    this.taken.clear();
  }

  protected choose(enabled: readonly TaskId[]): number {
    let best = -1;
    let bestPos = Infinity;
    for (let i = 0; i < enabled.length; i++) {
      const pos = this.rank(enabled[i] as TaskId);
      if (pos < bestPos) {
        bestPos = pos;
        best = i;
      }
    }
    return best;
  }

  protected override onPicked(t: TaskId): void {
    this.taken.set(t, (this.taken.get(t) ?? 0) + 1);
  }
}
