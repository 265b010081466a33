import { variantKey } from '../scenarios/scenario.ts';
import { elidedText, selectSteps } from './select.ts';
import { describeEvent, notableEvents, stepOp, stepViews } from './steps.ts';
import type { TraceDocument } from './trace-doc.ts';

/** How many steps the listing shows at most, and the window before the finding shown whole. */
const BUDGET = 150;
const WINDOW = 40;

/** One line about where the trace came from and how the run ended. */
export function summaryLines(doc: TraceDocument): string[] {
  const lines = [
    `scenario ${doc.scenario} (${variantKey(doc.variants)}), seed ${doc.seed}${doc.source === null ? '' : `, replay ${doc.source}`}`,
    `${doc.outcome} after ${doc.steps} steps (${doc.host} host), trace hash ${doc.traceHash}`,
  ];
  if (doc.recorded !== null) lines.push(`recorded finding: ${doc.recorded.title} — ${doc.reproduced === true ? 'reproduced' : 'NOT reproduced'}`);
  if (doc.divergence !== null) lines.push(`replay diverged: ${doc.divergence}`);
  return lines;
}

const pad = (s: string, w: number): string => (s.length >= w ? s : s + ' '.repeat(w - s.length));

/**
 * The text report: the findings as the checkers print them (kernel-style
 * splats), then the steps that matter, one line each: step, task, actor,
 * op, where the task stopped, and the step's notable events.
 */
export function renderText(doc: TraceDocument): string {
  let s = summaryLines(doc).join('\n') + '\n';
  if (doc.findings.length === 0) s += '\nno findings\n';
  for (const f of doc.findings) s += `\n${f.title} (reported at step ${f.step})\n${f.report}${f.report.endsWith('\n') ? '' : '\n'}`;

  const views = stepViews(doc.trace);
  const items = selectSteps(doc, views, { budget: BUDGET, window: WINDOW });
  const kept = items.flatMap((x) => (x.kind === 'step' ? [x.view] : []));
  const reported = new Map<number, string[]>();
  for (const f of doc.findings) reported.set(f.step, [...(reported.get(f.step) ?? []), f.kind]);
  const wTask = Math.max(4, ...kept.map((v) => v.entry.task.length));
  const wActor = Math.max(5, ...kept.map((v) => v.entry.actor.length));
  const wOp = Math.max(2, ...kept.map((v) => stepOp(v).length));
  const wStep = Math.max(4, String(doc.trace.length === 0 ? 0 : (doc.trace[doc.trace.length - 1]?.i ?? 0)).length);

  s += `\nsteps (${kept.length} of ${doc.trace.length} shown):\n`;
  s += `${pad('step', wStep)}  ${pad('task', wTask)}  ${pad('actor', wActor)}  ${pad('op', wOp)}  ${pad('point', 6)}  events\n`;
  for (const it of items) {
    if (it.kind === 'elided') {
      s += `${' '.repeat(wStep)}  ${elidedText(it.count, it.tasks)}\n`;
      continue;
    }
    const v = it.view;
    const t = v.entry;
    const found = reported.get(t.i);
    // Where a finding was reported, every event of the step (the racy access, the use after free).
    const evs = found === undefined ? notableEvents(t) : t.events.map((e) => describeEvent(e, t.events)).filter((x): x is string => x !== null);
    if (found !== undefined) evs.push(...found.map((k) => `<< ${k}`));
    const line = `${String(t.i).padStart(wStep)}  ${pad(t.task, wTask)}  ${pad(t.actor, wActor)}  ${pad(stepOp(v), wOp)}  ${pad(t.point, 6)}  ${evs.join('; ')}`;
    s += line.trimEnd() + '\n';
  }
  return s;
}
