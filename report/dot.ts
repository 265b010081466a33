import { variantKey } from '../scenarios/scenario.ts';
import type { LockGraphEdge, TraceDocument } from './trace-doc.ts';

const q = (s: string): string => JSON.stringify(s);

/**
 * lockdep's class dependency graph of the run as Graphviz: a node per lock
 * class (completions as boxes), an edge "held A when acquiring B" labelled
 * with its dependency types and the site and step where it was first seen.
 * Edges and classes of a reported cycle are red. Dependencies preloaded from
 * the kernel's order (not taken in this run) are drawn only when they are
 * part of a reported cycle, dashed.
 */
export function renderDot(doc: TraceDocument): string {
  const title = `lockdep classes: ${doc.scenario} (${variantKey(doc.variants)})`;
  let s = `digraph lockdep {\n  rankdir=LR;\n  labelloc=t;\n  label=${q(title)};\n  node [shape=ellipse, fontname="monospace"];\n  edge [fontname="monospace", fontsize=10];\n`;
  const g = doc.lockGraph;
  if (g === null) return `${s}  "(this scenario runs no lockdep)" [shape=plaintext];\n}\n`;

  const onCycle = new Set<string>();
  const cycleClasses = new Set<string>();
  for (const c of g.cycles) {
    for (const e of c.edges) onCycle.add(`${e.from}\u0000${e.to}`);
    for (const k of c.classes) cycleClasses.add(k);
  }
  const shown = g.edges.filter((e) => e.via !== 'known' || onCycle.has(`${e.from}\u0000${e.to}`));
  const nodes = new Map<string, string>(g.classes.map((c) => [c.key, c.kind]));
  for (const e of shown) for (const k of [e.from, e.to]) if (!nodes.has(k)) nodes.set(k, 'mutex');
  for (const k of [...nodes.keys()].sort()) {
    const attrs: string[] = [];
    if (nodes.get(k) === 'completion') attrs.push('shape=box');
    if (cycleClasses.has(k)) attrs.push('color=red', 'fontcolor=red');
    s += `  ${q(k)}${attrs.length === 0 ? '' : ` [${attrs.join(', ')}]`};\n`;
  }
  for (const e of shown) s += `  ${q(e.from)} -> ${q(e.to)} [${edgeAttrs(e, onCycle.has(`${e.from}\u0000${e.to}`)).join(', ')}];\n`;
  return s + '}\n';
}

function edgeAttrs(e: LockGraphEdge, red: boolean): string[] {
  const label = e.via === 'known'
    ? `${e.types.join(',')} kernel order\n${e.site}`
    : `${e.types.join(',')} ${e.site}\n${e.task ?? '?'} step ${e.step}${e.via === 'complete' ? ' (complete)' : ''}${e.kernelOrder ? ' (kernel order)' : ''}`;
  const attrs = [`label=${q(label)}`];
  if (e.via === 'known') attrs.push('style=dashed');
  if (red) attrs.push('color=red', 'fontcolor=red', 'penwidth=2');
  return attrs;
}
