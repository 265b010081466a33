import type { RunReport } from './run-one.ts';
import { allTruncated } from './run-one.ts';
import { variantKey } from '../scenarios/scenario.ts';
import { claimText } from './verdict.ts';

/**
 * "clean (exhaustive, ≤ 2 preemptions, 18,432 schedules)", or the kinds
 * found. Known findings are not counted, but a run that found only known
 * ones is not clean: "known only: data-race×2" says what it did find.
 */
function foundText(r: RunReport, sep = ', '): string {
  const counted = r.findings.filter((f) => r.strict || f.known === undefined);
  if (counted.length > 0) return kindsFound(counted).replaceAll(',', sep);
  return r.findings.length === 0 ? `clean (${claimText(r.claim)})` : `known only: ${kindsFound(r.findings).replaceAll(',', sep)}`;
}

const titleOf = (r: RunReport, base: readonly RunReport[], sig: string): string =>
  r.findings.find((f) => f.signature === sig)?.title ?? base.flatMap((b) => b.findings).find((f) => f.signature === sig)?.title ?? sig;

/** `known: <id> (<kinds>; <source>: <reference>)`, one line per known entry. */
function knownLines(r: RunReport, indent: string): string {
  const ids = [...new Set(r.known.map((k) => k.id))];
  return ids.map((id) => {
    const hits = r.known.filter((k) => k.id === id);
    const k = hits[0] as RunReport['known'][number];
    return `${indent}known: ${id} (${[...new Set(hits.map((h) => h.kind))].join(', ')}; ${k.source}: ${k.reference})${r.strict ? ' — counted (--strict)' : ''}\n`;
  }).join('');
}

/** "deadlock,recursive-locking" / "includes uaf; new: none" / "-" (no expectation). */
function expectText(r: RunReport, sep: string): string {
  const e = r.expectation;
  if (e === undefined) return '-';
  const list = (xs: readonly string[]): string => (xs.length === 0 ? 'clean' : xs.join(sep));
  const parts: string[] = [];
  if (e.findings !== undefined) parts.push(list(e.findings));
  if (e.includes !== undefined) parts.push(`includes ${list(e.includes)}`);
  if (e.new !== undefined) parts.push(`new ${e.new.length === 0 ? 'none' : e.new.join(sep)}`);
  return parts.join('; ');
}

/**
 * The kinds a run found, each once: "data-race×2" when two findings of a kind
 * have different signatures (two different races; the titles below, or
 * `--json`, tell them apart), in the order first found.
 */
export function kindsFound(findings: readonly { readonly kind: string }[]): string {
  if (findings.length === 0) return 'clean';
  const n = new Map<string, number>();
  for (const f of findings) n.set(f.kind, (n.get(f.kind) ?? 0) + 1);
  return [...n].map(([k, c]) => (c > 1 ? `${k}×${c}` : k)).join(',');
}

/** The human-readable result of one run. */
export function printRun(r: RunReport): string {
  let s = `${r.scenario} [${variantKey(r.variants)}] ${r.host}/${r.mode} ${r.strategy} seed ${r.seed}: `;
  s += `${r.schedules} schedules, ${r.steps} steps, ${r.elapsedMs} ms\n`;
  for (const line of r.rules ?? []) s += `rules: ${line}\n`;
  if (r.truncated > 0) {
    s += `truncated: ${r.truncated} of ${r.schedules} schedules hit the step limit (--max-steps) and were cut short` +
      `${allTruncated(r) ? ': no schedule ran to its end, so this run is no verdict (exit 1)' : ''}\n`;
  }
  s += `expected: ${r.expectation === undefined ? '(none)' : expectText(r, ', ')}; `;
  s += `found: ${foundText(r)} -> ${r.matched ? 'OK' : 'MISMATCH'}\n`;
  s += knownLines(r, '');
  if (r.baseline !== undefined) {
    s += `against baseline [${variantKey(r.baseline)}]: ${r.added.length === 0 && r.removed.length === 0 ? 'no change' : ''}\n`;
    for (const sig of r.added) s += `  + ${titleOf(r, [], sig)}\n`;
    for (const sig of r.removed) s += `  - ${sig}\n`;
  }
  s += printUnusedPatches([r]);
  for (const f of r.findings) {
    s += `\n${f.title}  (first at schedule ${f.firstSchedule}, seen ${f.count}x${f.known !== undefined ? `, known: ${f.known}` : ''})\nreplay: ${f.replay}\n${f.report}`;
  }
  return s;
}

/** The patched functions a run never reached: the patch missed its target, and the run measured upstream code there. */
export function printUnusedPatches(rows: readonly RunReport[]): string {
  let s = '';
  for (const r of rows) {
    for (const u of r.unusedPatches ?? []) {
      s += `unused patch: ${u.patch} replaces ${u.function}() in ${u.actor}, which no schedule reached [${variantKey(r.variants)}]\n`;
    }
  }
  return s;
}


/** "+deadlock -lock-order-inversion": the kinds a row adds and removes against its baseline. */
function deltaText(r: RunReport, rows: readonly RunReport[]): string {
  if (r.baseline === undefined) return rows.some((x) => x.scenario === r.scenario && x.baseline !== undefined) ? 'baseline' : '-';
  const base = variantKey(r.baseline);
  const pool = [...r.findings, ...rows.filter((x) => x.scenario === r.scenario && variantKey(x.variants) === base).flatMap((x) => x.findings)];
  const kindOf = (sig: string): string => pool.find((f) => f.signature === sig)?.kind ?? sig;
  const parts = [...r.added.map((x) => `+${kindOf(x)}`), ...r.removed.map((x) => `-${kindOf(x)}`)];
  return parts.length === 0 ? 'none' : parts.join(' ');
}

/** The variant table of `compare`, then per row what it adds and removes and which known findings it showed. */
export function printTable(rows: readonly RunReport[]): string {
  const head = ['scenario', 'variants', 'expected', 'found', 'known', 'vs baseline', 'first', 'schedules', 'ms', 'ok'];
  const body = rows.map((r) => [
    r.scenario,
    variantKey(r.variants),
    expectText(r, ','),
    foundText(r, ','),
    r.known.length === 0 ? '-' : [...new Set(r.known.map((k) => k.id))].join(','),
    deltaText(r, rows),
    r.findings.length === 0 ? '-' : String(Math.min(...r.findings.map((f) => f.firstSchedule))),
    r.truncated > 0 ? `${r.schedules} (${r.truncated} truncated)` : String(r.schedules),
    String(r.elapsedMs),
    allTruncated(r) ? 'TRUNCATED' : r.matched ? 'OK' : 'MISMATCH',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd() + '\n';
  let out = line(head) + line(widths.map((w) => '-'.repeat(w))) + body.map(line).join('') + printUnusedPatches(rows);
  const notes = rows.filter((r) => r.added.length > 0 || r.removed.length > 0 || r.known.length > 0);
  if (notes.length > 0) out += '\n';
  for (const r of notes) {
    out += `${r.scenario} [${variantKey(r.variants)}]${r.baseline !== undefined ? ` vs [${variantKey(r.baseline)}]` : ''}:\n`;
    const base = rows.filter((x) => x.scenario === r.scenario && r.baseline !== undefined && variantKey(x.variants) === variantKey(r.baseline));
    for (const sig of r.added) out += `  adds    ${titleOf(r, base, sig)}\n`;
    for (const sig of r.removed) out += `  removes ${titleOf(r, base, sig)}\n`;
    out += knownLines(r, '  ');
  }
  return out;
}
