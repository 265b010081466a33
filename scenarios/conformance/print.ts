import type { ConformanceReport, UnitReport } from './runner.ts';

/**
 * The text report: one table per unit — case, expected, observed, status —
 * then the documented behaviour each deviation matches, and a count line.
 * Long texts wrap inside their column.
 */

const COLS = { name: 26, expected: 46, observed: 58 } as const;

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line === '') line = word;
    else if (line.length + 1 + word.length <= width) line += ` ${word}`;
    else {
      out.push(line);
      line = word;
    }
    while (line.length > width) {
      out.push(line.slice(0, width));
      line = line.slice(width);
    }
  }
  out.push(line);
  return out;
}

export function printUnit(u: UnitReport): string {
  const rows: string[] = [];
  const head = `${'case'.padEnd(COLS.name)} ${'expected'.padEnd(COLS.expected)} ${'observed'.padEnd(COLS.observed)} status`;
  rows.push(`== ${u.unit} ==`, head, '-'.repeat(head.length + 4));
  for (const c of u.cases) {
    const cols = [wrap(c.name, COLS.name), wrap(c.expected, COLS.expected), wrap(c.observed, COLS.observed)];
    const n = Math.max(...cols.map((x) => x.length));
    for (let i = 0; i < n; i++) {
      const [a, b, d] = cols.map((x) => x[i] ?? '');
      rows.push(`${a!.padEnd(COLS.name)} ${b!.padEnd(COLS.expected)} ${d!.padEnd(COLS.observed)} ${i === 0 ? c.status.toUpperCase() : ''}`.trimEnd());
    }
  }
  const notes = u.cases.filter((c) => c.status === 'deviation' && c.note !== undefined);
  if (notes.length > 0) {
    rows.push('', 'deviations (documented behaviour of this driver version):');
    for (const c of notes) rows.push(`  ${c.name}: ${c.note}`);
  }
  const count = (s: string): number => u.cases.filter((c) => c.status === s).length;
  rows.push('', `${u.unit}: ${u.cases.length} cases, ${count('pass')} pass, ${count('deviation')} deviation, ${count('fail')} fail`);
  return rows.join('\n') + '\n';
}

export function printReport(r: ConformanceReport): string {
  return r.units.map(printUnit).join('\n');
}
