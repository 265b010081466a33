import { variantKey } from '../scenarios/scenario.ts';
import { elidedText, primaryFinding, selectSteps } from './select.ts';
import { describeEvent, stepViews } from './steps.ts';
import type { StepView } from './steps.ts';
import type { TraceDocument, TraceFinding } from './trace-doc.ts';
import type { TraceEvent } from '../protocol/events.ts';

/** The diagram shows at most this many steps; the window before the finding is shown whole. */
const BUDGET = 60;
const WINDOW = 24;

/** Words mermaid reads as statements; a participant id must not be one. */
const RESERVED = new Set([
  'end', 'loop', 'alt', 'else', 'opt', 'par', 'and', 'rect', 'note', 'over', 'participant', 'actor', 'activate',
  'deactivate', 'critical', 'break', 'box', 'autonumber', 'title', 'link', 'links', 'properties', 'details', 'create', 'destroy', 'as',
]);

/**
 * Message and note text: up to the end of the line, where `#` starts an
 * entity and `;` ends a statement; both, and angle brackets, go as
 * mermaid's numeric entities.
 */
function text(s: string): string {
  return s.replace(/[#;<>]/g, (c) => `#${c.charCodeAt(0)};`).replace(/\s+/g, ' ');
}

/** Participant ids: letters, digits and underscores, never a keyword, one per actor. */
class Participants {
  private readonly ids = new Map<string, string>();
  private readonly used = new Set<string>();

  id(actor: string): string {
    let id = this.ids.get(actor);
    if (id !== undefined) return id;
    const base = actor === '@root' ? 'scenario' : actor.replace(/[^A-Za-z0-9_]/g, '_').replace(/^(\d)/, '_$1') || 'actor';
    id = RESERVED.has(base.toLowerCase()) ? `${base}_` : base;
    for (let k = 2; this.used.has(id); k++) id = `${base}_${k}`;
    this.ids.set(actor, id);
    this.used.add(id);
    return id;
  }

  /** Declarations in the order given (program order), for the actors used. */
  declare(order: readonly string[]): string[] {
    const seen = [...this.ids.keys()];
    const sorted = [...order.filter((a) => this.ids.has(a)), ...seen.filter((a) => !order.includes(a))];
    return sorted.map((a) => {
      const id = this.ids.get(a) as string;
      const label = a === '@root' ? '(scenario)' : a;
      return label === id ? `  participant ${id}` : `  participant ${id} as ${text(label)}`;
    });
  }
}

/** Notes of a step: lock grants and releases, waits, completions, alloc/free, WARN/BUG. */
function stepNotes(events: readonly TraceEvent[]): Map<string, string[]> {
  const byActor = new Map<string, string[]>();
  for (const e of events) {
    if (e.ev === 'access' || e.ev === 'use' || e.ev === 'get' || e.ev === 'put' || e.ev === 'dma' || e.ev === 'send') continue;
    const d = describeEvent(e, events);
    if (d === null) continue;
    const list = byActor.get(e.actor) ?? [];
    list.push(`${e.task} ${d}`);
    byActor.set(e.actor, list);
  }
  return byActor;
}

function arrowLine(v: StepView, p: Participants): string {
  const t = v.entry;
  const to = p.id(t.actor);
  const label = `${t.i}: ${t.task} ${t.op ?? '?'}`;
  switch (v.arrow) {
    case 'start':
      return `  ${p.id('@root')}->>${to}: ${text(label)}`;
    case 'spawn':
      return `  ${p.id(v.from as string)}-)${to}: ${text(`${label} (spawned)`)}`;
    case 'call':
      return `  ${p.id(v.from as string)}->>${to}: ${text(label)}`;
    case 'reply':
      return `  ${p.id(v.from as string)}-->>${to}: ${text(`${label} returns`)}`;
    case 'enter':
      return `  Note over ${to}: ${text(`${label} (sender not in the trace)`)}`;
    case 'wake':
      return `  Note over ${to}: ${text(`${t.i}: ${t.task} wakes`)}`;
    case 'resume':
      return `  Note over ${to}: ${text(`${t.i}: ${t.task} resumes after yield`)}`;
  }
}

function findingNote(f: TraceFinding, at: string, p: Participants): string {
  const who = f.tasks.map((x) => x.task).join(', ');
  const actor = f.actor !== null && f.actor !== '' ? f.actor : at;
  return `  Note over ${p.id(actor)}: ${text(`⚠ ${f.title}${who === '' ? '' : ` (tasks ${who})`}`)}`;
}

/** The mermaid sequenceDiagram of the steps that matter. */
export function sequenceDiagram(doc: TraceDocument): { readonly diagram: string; readonly shown: number; readonly elided: number } {
  const views = stepViews(doc.trace);
  const items = selectSteps(doc, views, { budget: BUDGET, window: WINDOW });
  const p = new Participants();
  // Lines of the diagram; a gap spans the whole diagram, so its ends are known only at the end.
  const body: (string | { readonly gap: string })[] = [];
  const byStep = new Map<number, TraceFinding[]>();
  for (const f of doc.findings) byStep.set(f.step, [...(byStep.get(f.step) ?? []), f]);
  // A task whose last step returns has ended (in a run that ran to its end): a
  // root task replies to the scenario, a spawned one just stops.
  const ran = doc.outcome === 'completed' || doc.outcome === 'deadlock';
  const first = new Map<string, StepView>();
  const lastAt = new Map<string, number>();
  for (const v of views) {
    if (!first.has(v.entry.task)) first.set(v.entry.task, v);
    lastAt.set(v.entry.task, v.at);
  }
  let shown = 0;
  let elided = 0;
  let noted = 0;
  for (const it of items) {
    if (it.kind === 'elided') {
      elided += it.count;
      body.push({ gap: text(elidedText(it.count, it.tasks)) });
      continue;
    }
    shown++;
    const v = it.view;
    body.push(arrowLine(v, p));
    for (const [actor, notes] of stepNotes(v.entry.events)) body.push(`  Note over ${p.id(actor)}: ${notes.map(text).join('<br/>')}`);
    if (ran && v.entry.point === 'return' && lastAt.get(v.entry.task) === v.at) {
      const start = first.get(v.entry.task) as StepView;
      if (start.arrow === 'start') body.push(`  ${p.id(v.entry.actor)}-->>${p.id('@root')}: ${text(`${v.entry.task} ${start.entry.op ?? '?'} returns`)}`);
      else if (start.arrow === 'spawn') body.push(`  Note over ${p.id(v.entry.actor)}: ${text(`${v.entry.task} ends`)}`);
    }
    for (const f of byStep.get(v.entry.i) ?? []) {
      body.push(findingNote(f, v.entry.actor, p));
      noted++;
    }
  }
  // Findings at steps not in the trace (an empty trace) still get their note.
  if (noted < doc.findings.length) {
    const shownSteps = new Set(items.flatMap((x) => (x.kind === 'step' ? [x.view.entry.i] : [])));
    for (const f of doc.findings) if (!shownSteps.has(f.step)) body.push(findingNote(f, doc.actors[0] ?? 'scenario', p));
  }
  const decl = p.declare(['@root', ...doc.actors]);
  const ids = decl.map((d) => (d.trim().split(/\s+/)[1] as string));
  const span = ids.length <= 1 ? (ids[0] ?? p.id('scenario')) : `${ids[0]},${ids[ids.length - 1]}`;
  const lines = body.map((l) => (typeof l === 'string' ? l : `  Note over ${span}: ${l.gap}`));
  return { diagram: ['sequenceDiagram', ...decl, ...lines].join('\n') + '\n', shown, elided };
}

/**
 * Markdown for a bug report or a review: the main finding as the title,
 * every finding's report in a code block, and a mermaid sequence diagram of
 * the failing run (participants are actors; arrows are a task's calls and
 * replies with the op; notes are lock grants and releases, waits,
 * allocations and frees, and the findings). Long traces are shortened as
 * report/select.ts says, and every gap says how many steps it stands for.
 */
export function renderMarkdown(doc: TraceDocument): string {
  const main = primaryFinding(doc);
  const title = main?.title ?? `no finding in ${doc.scenario}`;
  let s = `# ${title}\n\n`;
  s += `- **Scenario:** \`${doc.scenario}\` (${'`'}${variantKey(doc.variants)}${'`'}), seed ${doc.seed}\n`;
  if (doc.source !== null) s += `- **Replay:** \`${doc.source}\`\n`;
  s += `- **Run:** ${doc.outcome} after ${doc.steps} steps (${doc.host} host), trace hash \`${doc.traceHash}\`\n`;
  if (doc.recorded !== null) s += `- **Recorded finding:** ${doc.recorded.title} — ${doc.reproduced === true ? 'reproduced' : '**not reproduced**'}\n`;
  if (doc.divergence !== null) s += `- **Replay diverged:** ${doc.divergence}\n`;
  s += `- **Findings:** ${doc.findings.length === 0 ? 'none' : doc.findings.map((f) => `${f.kind} (step ${f.step})`).join(', ')}\n`;

  const ordered = main === null ? doc.findings : [main, ...doc.findings.filter((f) => f !== main)];
  for (const f of ordered) {
    s += `\n## ${f.title}\n\nReported at step ${f.step}${f.tasks.length === 0 ? '' : `; tasks ${f.tasks.map((t) => `\`${t.task}\``).join(', ')}`}.\n\n`;
    s += '```text\n' + f.report.replace(/^\n+/, '') + (f.report.endsWith('\n') ? '' : '\n') + '```\n';
  }

  const d = sequenceDiagram(doc);
  s += `\n## Sequence\n\n`;
  s += 'Participants are the actors; each arrow is one step of a task (`step: task op`), dashed arrows are replies. ';
  s += 'Notes show lock grants and releases, waits, allocations and frees, and the findings.';
  if (d.elided > 0) s += ` ${d.shown} of ${d.shown + d.elided} steps are shown: steps of tasks not involved in the findings, and steps far from the finding with nothing notable, are elided where the diagram says so.`;
  s += '\n\n```mermaid\n' + d.diagram + '```\n';
  return s;
}
