import type { Program } from '../program.ts';
import type { TaskId } from '../../protocol/ids.ts';
import { FollowStrategy } from './guided.ts';
import { Trials } from './search.ts';
import type { Hit, ShrinkTarget } from './search.ts';

/**
 * Schedule shrinking: fewer context switches and steps for the same finding
 * on the same program. A schedule is a sequence of runs (one task for some
 * consecutive steps); a candidate moves a task's next run up against its
 * previous one ("pull") or the previous one down against the next ("push"),
 * which removes up to two switches. The candidate is run leniently
 * (FollowStrategy), so a move the program does not allow as such still gives
 * some execution; it is kept when it hits the finding with fewer switches and
 * no more steps, or fewer steps and no more switches. What is kept is always
 * the decisions an execution really made, so a strict replay reproduces it.
 */

export interface ScheduleShrinkOptions {
  /** Executions this phase may spend. */
  readonly maxExecutions: number;
  readonly onProgress?: (p: { readonly executions: number; readonly switches: number; readonly steps: number }) => void;
}

interface Run {
  readonly task: TaskId;
  readonly start: number;
  /** Exclusive. */
  readonly end: number;
}

/** Context switches: steps that run a different task than the step before. */
export function switchesOf(d: readonly TaskId[]): number {
  let n = 0;
  for (let i = 1; i < d.length; i++) if (d[i] !== d[i - 1]) n++;
  return n;
}

function runsOf(d: readonly TaskId[]): Run[] {
  const out: Run[] = [];
  let start = 0;
  for (let i = 1; i <= d.length; i++) {
    if (i === d.length || d[i] !== d[start]) {
      out.push({ task: d[start] as TaskId, start, end: i });
      start = i;
    }
  }
  return out;
}

function better(a: Hit, b: Hit): boolean {
  const sa = switchesOf(a.decisions);
  const sb = switchesOf(b.decisions);
  return (sa < sb && a.steps <= b.steps) || (sa <= sb && a.steps < b.steps);
}

/** The two moves for run `k` and the next run `l` of the same task. */
function moves(d: readonly TaskId[], k: Run, l: Run): TaskId[][] {
  const pull = [...d.slice(0, k.end), ...d.slice(l.start, l.end), ...d.slice(k.end, l.start), ...d.slice(l.end)];
  const push = [...d.slice(0, k.start), ...d.slice(k.end, l.start), ...d.slice(k.start, k.end), ...d.slice(l.start)];
  return [pull, push];
}

export async function shrinkSchedule(program: Program, target: ShrinkTarget, start: Hit, opts: ScheduleShrinkOptions, counter: { executions: number }): Promise<Hit> {
  const trials = await Trials.open(program, target, counter);
  const spent0 = counter.executions;
  const left = (): boolean => counter.executions - spent0 < opts.maxExecutions;
  let best = start;
  const consider = async (plan: readonly TaskId[]): Promise<boolean> => {
    const { hit } = await trials.once(new FollowStrategy(plan));
    if (hit === null || !better(hit, best)) return false;
    best = hit;
    opts.onProgress?.({ executions: counter.executions - spent0, switches: switchesOf(best.decisions), steps: best.steps });
    return true;
  };
  try {
    // Run every task as long as it can (no preemption at all): cheap, and sometimes enough.
    await consider([]);
    let improved = true;
    while (improved && left()) {
      improved = false;
      let runs = runsOf(best.decisions);
      for (let k = 0; k < runs.length && left(); k++) {
        const rk = runs[k] as Run;
        const l = runs.findIndex((r, j) => j > k + 1 && r.task === rk.task);
        if (l < 0) continue;
        for (const plan of moves(best.decisions, rk, runs[l] as Run)) {
          if (!left()) break;
          if (await consider(plan)) {
            improved = true;
            runs = runsOf(best.decisions);
            k--; // the same run again: it may now reach a further run of its task
            break;
          }
        }
      }
    }
    return best;
  } finally {
    await trials.close();
  }
}
