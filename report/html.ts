import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { variantKey } from '../scenarios/scenario.ts';
import type { TraceEntry } from '../runtime/execution.ts';
import type { TraceEvent } from '../protocol/events.ts';
import type { ObjId } from '../protocol/ids.ts';
import { renderDot } from './dot.ts';
import { sequenceDiagram } from './md.ts';
import { primaryFinding } from './select.ts';
import { notableEvents } from './steps.ts';
import type { LockGraph, TraceDocument, TraceFinding } from './trace-doc.ts';

/**
 * `report --format html`: one self-contained page for a mail or an issue —
 * no network. The kernel-style reports, the sequence diagram of the failing
 * interleaving (mermaid, bundled in the page and drawn in the browser), the
 * lockdep class graph with the cycle in red (Graphviz compiled to WASM,
 * @viz-js/viz, drawn here to an inline SVG), the object's
 * alloc/free/use timeline for a use-after-free, the two accesses of a data
 * race, and every step.
 */

const require = createRequire(import.meta.url);

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Inline a script: nothing inside may close the <script> element. */
const inlineScript = (js: string): string => js.replace(/<\/script/gi, '<\\/script').replace(/<!--/g, '<\\!--');

let mermaidJs: string | undefined;
function mermaidBundle(): string {
  mermaidJs ??= readFileSync(require.resolve('mermaid/dist/mermaid.min.js'), 'utf8');
  return mermaidJs;
}

/** Graphviz to SVG with the WASM build (the same engine as `dot -Tsvg`). */
async function dotToSvg(dot: string): Promise<string> {
  const { instance } = await import('@viz-js/viz');
  const viz = await instance();
  return viz.renderString(dot, { format: 'svg', engine: 'dot' }).replace(/^<\?xml[^>]*>\s*(<!DOCTYPE[^>]*>\s*)?/, '');
}

/**
 * The lock graph the page draws: completion edges that are not on a reported
 * cycle are left out of the picture (the pciehp graph gets seven of them from
 * one completion) and listed under it instead.
 */
function pictureGraph(g: LockGraph): { graph: LockGraph; omitted: LockGraph['edges'] } {
  const onCycle = new Set(g.cycles.flatMap((c) => c.edges.map((e) => `${e.from}\u0000${e.to}`)));
  const completions = new Set(g.classes.filter((c) => c.kind === 'completion').map((c) => c.key));
  const off = (e: LockGraph['edges'][number]): boolean => (e.via === 'complete' || completions.has(e.from) || completions.has(e.to)) && !onCycle.has(`${e.from}\u0000${e.to}`);
  const edges = g.edges.filter((e) => !off(e));
  const used = new Set(edges.flatMap((e) => [e.from, e.to]));
  const classes = g.classes.filter((c) => c.kind !== 'completion' || used.has(c.key) || g.cycles.some((cy) => cy.classes.includes(c.key)));
  return { graph: { classes, edges, cycles: g.cycles }, omitted: g.edges.filter(off) };
}

/** lockdep's dependency types (kernel/locking/lockdep.c: DEP_{SR,ER,SN,EN}_BIT). */
const DEP_TYPES: readonly (readonly [string, string])[] = [
  ['EN', 'the held lock was taken exclusively (E), the new one non-recursively (N): a plain mutex/rwsem-writer chain'],
  ['ER', 'held exclusively (E), the new one taken as a recursive reader (R)'],
  ['SN', 'the held lock was taken shared (S, a reader), the new one non-recursively (N)'],
  ['SR', 'held shared (S), the new one as a recursive reader (R): never part of a deadlock on its own'],
];

function lockGraphSection(doc: TraceDocument, svg: string | null, omitted: LockGraph['edges']): string {
  if (doc.lockGraph === null) return '<section id="lock-graph"><h2>Lock graph</h2><p>This scenario runs no lockdep.</p></section>';
  const cycles = doc.lockGraph.cycles;
  let s = '<section id="lock-graph"><h2>Lock graph</h2>';
  s += `<p>lockdep's class graph: an arrow A → B is "B was acquired while A was held". ${cycles.length > 0 ? `<strong class="bad">The reported cycle is red</strong> (${cycles.map((c) => esc(c.classes.join(' → '))).join('; ')}).` : 'No cycle was reported.'} Completions are boxes; dashed edges are the kernel's own order, preloaded (docs/kernel-facts.md §1.2), not taken in this run.</p>`;
  s += `<div class="graph">${svg ?? ''}</div>`;
  s += '<p>Each edge label is <code>TYPES site</code> and <code>task step N</code> where the dependency was first seen. The types are lockdep\'s:</p><table class="legend"><tr><th>label</th><th>meaning</th></tr>';
  for (const [t, m] of DEP_TYPES) s += `<tr><td><code>${t}</code></td><td>${esc(m)}</td></tr>`;
  s += '<tr><td><code>(complete)</code></td><td>the edge comes from a complete() while the lock was held (a waiter on the completion waits for that lock)</td></tr>';
  s += '<tr><td><code>(kernel order)</code></td><td>the run took the locks in the kernel\'s canonical order</td></tr></table>';
  if (omitted.length > 0) {
    s += `<details><summary>${omitted.length} completion edge${omitted.length === 1 ? '' : 's'} not on a cycle, left out of the picture</summary><ul>`;
    for (const e of omitted) s += `<li><code>${esc(e.from)}</code> → <code>${esc(e.to)}</code> ${esc(e.types.join(','))} at ${esc(e.site)} (${esc(e.task ?? '?')}, step ${e.step})</li>`;
    s += '</ul></details>';
  }
  return s + '</section>';
}

interface TimelineRow {
  readonly step: number;
  readonly task: string;
  readonly actor: string;
  readonly what: string;
  readonly stack: readonly string[];
  readonly after: boolean;
}

/** The object a use-after-free is about: freed, then used (accessed, locked, named) at or before the report. */
function uafObject(doc: TraceDocument, f: TraceFinding): string | null {
  const freedAt = new Map<string, number>();
  let best: { obj: string; step: number } | null = null;
  for (const t of doc.trace) {
    if (t.i > f.step) break;
    for (const e of t.events) {
      if (e.ev === 'free') freedAt.set(e.obj, t.i);
      else if (e.ev === 'access' && e.walk !== undefined) {
        for (const o of e.walk.objs) if (freedAt.has(o)) best = { obj: o, step: t.i };
      } else if ((e.ev === 'use' || e.ev === 'access') && freedAt.has(e.obj)) best = { obj: e.obj, step: t.i };
    }
  }
  if (best !== null) return best.obj;
  // the report names it: "belongs to the object at X"
  return /belongs to the object at (\S+)/.exec(f.report)?.[1] ?? null;
}

function objectTimeline(doc: TraceDocument, obj: string): TimelineRow[] {
  const rows: TimelineRow[] = [];
  let freed = false;
  const describe = (e: TraceEvent): string | null => {
    switch (e.ev) {
      case 'alloc': return e.obj === obj ? `alloc (${e.type})` : null;
      case 'free': return e.obj === obj ? 'free' : null;
      case 'get': return e.obj === obj ? `get (count ${e.count})` : null;
      case 'put': return e.obj === obj ? `put (count ${e.count})` : null;
      case 'use': return e.obj === obj ? `use: ${e.what}` : null;
      case 'access': return e.obj === obj || e.walk?.objs.includes(obj as ObjId) === true ? `${e.op} ${e.field}` : null;
      default: return null;
    }
  };
  for (const t of doc.trace) {
    for (const e of t.events) {
      const what = describe(e);
      if (what === null) continue;
      if (e.ev === 'alloc') freed = false;
      rows.push({ step: t.i, task: e.task, actor: e.actor, what, stack: e.stack, after: freed && e.ev !== 'free' });
      if (e.ev === 'free') freed = true;
    }
  }
  return rows;
}

function uafSection(doc: TraceDocument, f: TraceFinding): string {
  const obj = uafObject(doc, f);
  if (obj === null) return '';
  const rows = objectTimeline(doc, obj);
  let s = `<section class="timeline"><h3>Object ${esc(obj)}: allocation, free and use</h3>`;
  s += '<table><tr><th>step</th><th>task</th><th>actor</th><th>what</th><th>stack (innermost last)</th></tr>';
  for (const r of rows) {
    const cls = r.what === 'free' ? 'free' : r.after ? 'bad' : r.what.startsWith('alloc') ? 'alloc' : '';
    s += `<tr class="${cls}"><td>${r.step}</td><td>${esc(r.task)}</td><td>${esc(r.actor)}</td><td>${esc(r.what)}${r.after ? ' <strong>after free</strong>' : ''}</td><td><code>${esc(r.stack.join(' → '))}</code></td></tr>`;
  }
  return s + '</table></section>';
}

/** The two accesses of a data race, as KCSAN's report gives them ("read to 0x… of 8 bytes by task P on cpu N:" and its stack). */
function raceSection(f: TraceFinding): string {
  const blocks = f.report.split(/\n\s*\n/).filter((b) => /^(read|write)\b.* by task \S+ on cpu \d+:/m.test(b.trim()));
  if (blocks.length < 2) return '';
  let s = '<section class="race"><h3>The two accesses</h3><table><tr>';
  for (const b of blocks.slice(0, 2)) {
    const head = b.trim().split('\n')[0] as string;
    s += `<td><p><strong>${esc(head.replace(/:$/, ''))}</strong></p><pre>${esc(b.trim().split('\n').slice(1).join('\n'))}</pre></td>`;
  }
  const changed = /value changed: .*/.exec(f.report)?.[0];
  return s + `</tr></table>${changed !== undefined ? `<p>${esc(changed)}</p>` : ''}</section>`;
}

function stepTable(doc: TraceDocument): string {
  const byStep = new Map<number, TraceFinding[]>();
  for (const f of doc.findings) byStep.set(f.step, [...(byStep.get(f.step) ?? []), f]);
  let s = `<section id="steps"><h2>Steps</h2><p>All ${doc.trace.length} steps of the run: the task the scheduler chose, where it ran and what happened.</p>`;
  s += '<table class="steps"><tr><th>step</th><th>task</th><th>actor</th><th>op</th><th>point</th><th>events</th></tr>';
  for (const t of doc.trace as readonly TraceEntry[]) {
    const found = byStep.get(t.i) ?? [];
    s += `<tr${found.length > 0 ? ' class="bad"' : ''}><td>${t.i}</td><td>${esc(t.task)}</td><td>${esc(t.actor)}</td><td>${esc(t.op ?? '')}</td><td>${esc(t.point)}</td><td>${esc(notableEvents(t).join('; '))}${found.map((f) => ` <strong>⚠ ${esc(f.title)}</strong>`).join('')}</td></tr>`;
  }
  return s + '</table></section>';
}

const STYLE = `
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 80em; padding: 0 1em; color: #222; }
pre, code { font-family: ui-monospace, monospace; font-size: 0.9em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; border-left: 3px solid #c33; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
tr.bad td, .bad { color: #b00; }
tr.free td { background: #fff0f0; }
tr.alloc td { background: #f0fff0; }
.graph svg { max-width: 100%; height: auto; }
table.steps { font-size: 0.85em; }
nav a { margin-right: 1em; }
`;

/** The page of one recorded run. */
export async function renderHtml(doc: TraceDocument): Promise<string> {
  const main = primaryFinding(doc);
  const title = main?.title ?? `no finding in ${doc.scenario}`;
  const picture = doc.lockGraph === null ? null : pictureGraph(doc.lockGraph);
  const svg = picture === null ? null : await dotToSvg(renderDot({ ...doc, lockGraph: picture.graph }));
  const seq = sequenceDiagram(doc);
  let s = `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${STYLE}</style></head><body>\n`;
  s += `<h1>${esc(title)}</h1>\n<nav><a href="#findings">findings</a><a href="#sequence">sequence</a><a href="#lock-graph">lock graph</a><a href="#steps">steps</a></nav>\n<ul>`;
  s += `<li><strong>Scenario:</strong> <code>${esc(doc.scenario)}</code> (<code>${esc(variantKey(doc.variants))}</code>), seed ${doc.seed}</li>`;
  if (doc.source !== null) s += `<li><strong>Replay:</strong> <code>${esc(doc.source)}</code></li>`;
  s += `<li><strong>Run:</strong> ${esc(doc.outcome)} after ${doc.steps} steps (${doc.host} host), trace hash <code>${esc(doc.traceHash)}</code></li>`;
  if (doc.recorded !== null) s += `<li><strong>Recorded finding:</strong> ${esc(doc.recorded.title)} — ${doc.reproduced === true ? 'reproduced' : '<strong class="bad">not reproduced</strong>'}</li>`;
  if (doc.divergence !== null) s += `<li><strong>Replay diverged:</strong> ${esc(doc.divergence)}</li>`;
  s += '</ul>\n<section id="findings"><h2>Findings</h2>';
  if (doc.findings.length === 0) s += '<p>None.</p>';
  const ordered = main === null ? doc.findings : [main, ...doc.findings.filter((f) => f !== main)];
  for (const f of ordered) {
    s += `<h3>${esc(f.title)}</h3><p>Reported at step ${f.step}${f.tasks.length === 0 ? '' : `; tasks ${f.tasks.map((t) => `<code>${esc(t.task)}</code>`).join(', ')}`}.</p>`;
    s += `<pre>${esc(f.report.replace(/^\n+/, ''))}</pre>`;
    if (f.kind === 'use-after-free') s += uafSection(doc, f);
    if (f.kind === 'data-race') s += raceSection(f);
  }
  s += '</section>\n<section id="sequence"><h2>Sequence</h2>';
  s += '<p>Participants are the actors; each arrow is one step of a task (<code>step: task op</code>), dashed arrows are replies; notes are lock grants and releases, waits, allocations and frees, and the findings.';
  if (seq.elided > 0) s += ` ${seq.shown} of ${seq.shown + seq.elided} steps are shown; the elided ones are marked where they were.`;
  s += `</p><pre class="mermaid">${esc(seq.diagram)}</pre></section>\n`;
  s += lockGraphSection(doc, svg, picture?.omitted ?? []) + '\n';
  s += stepTable(doc) + '\n';
  s += `<script>${inlineScript(mermaidBundle())}</script>\n`;
  s += '<script>mermaid.initialize({ startOnLoad: false, securityLevel: "strict", maxTextSize: 1000000, maxEdges: 100000, sequence: { useMaxWidth: false } });\n'
    + 'mermaid.run({ querySelector: "pre.mermaid" }).then(() => { document.body.dataset.rendered = "yes"; }, (e) => { document.body.dataset.rendered = "failed"; console.error(e); });</script>\n';
  return s + '</body></html>\n';
}

/** A link in the compare page: one row's finding and its page. */
export interface HtmlRow {
  readonly scenario: string;
  readonly variants: string;
  readonly expected: string;
  readonly found: readonly { readonly kind: string; readonly title: string; readonly href: string | null }[];
  readonly schedules: number;
  readonly ok: boolean;
}

/** `compare --html FILE`: the variant table, each finding linking its own page. */
export function renderCompareHtml(rows: readonly HtmlRow[], title: string): string {
  let s = `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${STYLE}</style></head><body>\n<h1>${esc(title)}</h1>\n`;
  s += `<p>${rows.length} rows, ${rows.filter((r) => !r.ok).length} mismatched. Each finding links the page of its replay (report, sequence, lock graph, steps).</p>`;
  s += '<table><tr><th>scenario</th><th>variants</th><th>expected</th><th>found</th><th>schedules</th><th>ok</th></tr>';
  for (const r of rows) {
    const found = r.found.length === 0 ? 'clean' : r.found.map((f) => (f.href === null ? esc(f.kind) : `<a href="${esc(f.href)}" title="${esc(f.title)}">${esc(f.kind)}</a>`)).join(', ');
    s += `<tr${r.ok ? '' : ' class="bad"'}><td>${esc(r.scenario)}</td><td><code>${esc(r.variants)}</code></td><td>${esc(r.expected)}</td><td>${found}</td><td>${r.schedules}</td><td>${r.ok ? 'OK' : 'MISMATCH'}</td></tr>`;
  }
  return s + '</table></body></html>\n';
}
