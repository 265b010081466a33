import { sameFailure } from '../runtime/replay-file.ts';
import { isNotable, namesOf, reportTokens } from './steps.ts';
import type { StepView } from './steps.ts';
import type { TraceDocument, TraceFinding } from './trace-doc.ts';

/** A kept step, or a run of consecutive steps left out (with how many of each task). */
export type Item =
  | { readonly kind: 'step'; readonly view: StepView }
  | { readonly kind: 'elided'; readonly count: number; readonly tasks: readonly (readonly [string, number])[] };

export interface SelectOptions {
  /** At most this many steps are kept (findings' own steps and the window always are). */
  readonly budget: number;
  /** Steps of the involved tasks right before the main finding, all kept. */
  readonly window: number;
}

/** The finding a report is about: the one the replay file recorded, else the first. */
export function primaryFinding(doc: TraceDocument): TraceFinding | null {
  const rec = doc.recorded;
  if (rec !== null) {
    const f = doc.findings.find((x) => sameFailure(rec.signature, x.signature));
    if (f !== undefined) return f;
  }
  return doc.findings[0] ?? null;
}

/**
 * The steps that matter, for listings and diagrams of long traces. Short
 * traces are kept whole. Otherwise, with the main finding as the focus:
 * 1. the steps where findings were reported, and every step of the
 *    involved tasks (those the findings name) in the window before it;
 * 2. earlier steps of the involved tasks that touch an object or lock the
 *    findings' reports name (its allocation, the locks around it), nearest
 *    to the focus first;
 * 3. other notable steps of the involved tasks (locks, alloc/free,
 *    completions, WARN/BUG), nearest first;
 * 4. notable steps of the involved tasks after the focus;
 * until the budget is spent. Everything else is elided, and every gap says
 * how many steps of which tasks it stands for (a gap of a single step is
 * shown instead: it would take a line anyway).
 */
export function selectSteps(doc: TraceDocument, views: readonly StepView[], o: SelectOptions): Item[] {
  const n = views.length;
  if (n <= o.budget) return views.map((view) => ({ kind: 'step', view }));
  const posOf = new Map<number, number>(views.map((v) => [v.entry.i, v.at]));
  const pos = (step: number): number => posOf.get(step) ?? n - 1;
  const main = primaryFinding(doc);
  const focus = main === null ? n - 1 : pos(main.step);
  const named = new Set<string>(doc.findings.flatMap((f) => f.tasks.map((t) => t.task)));
  const involved = (task: string): boolean => named.size === 0 || named.has(task);
  const tokens = reportTokens(doc.findings.map((f) => f.report));

  const keep = new Set<number>();
  for (const f of doc.findings) keep.add(pos(f.step));
  keep.add(focus);
  for (let p = Math.max(0, focus - o.window); p <= focus; p++) if (involved((views[p] as StepView).entry.task)) keep.add(p);

  const mentioning: number[] = [];
  const notable: number[] = [];
  const after: number[] = [];
  for (let p = focus - o.window - 1; p >= 0; p--) {
    const v = views[p] as StepView;
    if (!involved(v.entry.task)) continue;
    const evs = v.entry.events.filter(isNotable);
    if (evs.length === 0) continue;
    if (evs.some((e) => namesOf(e).some((x) => tokens.has(x)))) mentioning.push(p);
    else notable.push(p);
  }
  for (let p = focus + 1; p < n; p++) {
    const v = views[p] as StepView;
    if (involved(v.entry.task) && v.entry.events.some(isNotable)) after.push(p);
  }
  for (const tier of [mentioning, notable, after]) {
    for (const p of tier) {
      if (keep.size >= o.budget) break;
      keep.add(p);
    }
  }

  const items: Item[] = [];
  let gap: StepView[] = [];
  const flush = (): void => {
    if (gap.length === 1) {
      // A gap of one step takes a line either way: show the step.
      items.push({ kind: 'step', view: gap[0] as StepView });
    } else if (gap.length > 1) {
      const tasks = new Map<string, number>();
      for (const v of gap) tasks.set(v.entry.task, (tasks.get(v.entry.task) ?? 0) + 1);
      items.push({ kind: 'elided', count: gap.length, tasks: [...tasks] });
    }
    gap = [];
  };
  for (const v of views) {
    if (keep.has(v.at)) {
      flush();
      items.push({ kind: 'step', view: v });
    } else {
      gap.push(v);
    }
  }
  flush();
  return items;
}

/** "… 40 steps elided (boot 38, remove 2)" */
export function elidedText(count: number, tasks: readonly (readonly [string, number])[]): string {
  return `… ${count} step${count === 1 ? '' : 's'} elided (${tasks.map(([t, k]) => `${t} ${k}`).join(', ')})`;
}
