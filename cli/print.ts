import type { RunReport } from './run-one.ts';
import { allTruncated } from './run-one.ts';
import { variantKey } from '../scenarios/scenario.ts';

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
  s += `expected: ${r.expected === null ? '(none)' : r.expected.length === 0 ? 'clean' : r.expected.join(', ')}; `;
  s += `found: ${kindsFound(r.findings).replaceAll(',', ', ')} -> ${r.matched ? 'OK' : 'MISMATCH'}\n`;
  for (const f of r.findings) {
    s += `\n${f.title}  (first at schedule ${f.firstSchedule}, seen ${f.count}x)\nreplay: ${f.replay}\n${f.report}`;
  }
  return s;
}

/** The variant table of `compare`. */
export function printTable(rows: readonly RunReport[]): string {
  const head = ['scenario', 'variants', 'expected', 'found', 'first', 'schedules', 'ms', 'ok'];
  const body = rows.map((r) => [
    r.scenario,
    variantKey(r.variants),
    r.expected === null ? '-' : r.expected.length === 0 ? 'clean' : r.expected.join(','),
    kindsFound(r.findings),
    r.findings.length === 0 ? '-' : String(Math.min(...r.findings.map((f) => f.firstSchedule))),
    r.truncated > 0 ? `${r.schedules} (${r.truncated} truncated)` : String(r.schedules),
    String(r.elapsedMs),
    allTruncated(r) ? 'TRUNCATED' : r.matched ? 'OK' : 'MISMATCH',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd() + '\n';
  return line(head) + line(widths.map((w) => '-'.repeat(w))) + body.map(line).join('');
}
