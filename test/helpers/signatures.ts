import { readFileSync, writeFileSync } from 'node:fs';

/** The finding signatures test/signatures.test.ts and test/seeds.test.ts pin (see there). */
const FIXTURE = new URL('../fixtures/finding-signatures.json', import.meta.url);

export interface PinnedSignatures {
  /** Per matrix case: its signatures in 30 random schedules (seed 1, RandomStrategy(7)). */
  readonly matrix: Readonly<Record<string, readonly string[]>>;
  /** Per seed row of `compare('all', { schedules: 300, seed: 4 })` (test/seeds.test.ts): its signatures. */
  readonly seeds: Readonly<Record<string, readonly string[]>>;
}

export function pinnedSignatures(): PinnedSignatures {
  return JSON.parse(readFileSync(FIXTURE, 'utf8')) as PinnedSignatures;
}

export function writePinned(p: PinnedSignatures): void {
  writeFileSync(FIXTURE, `${JSON.stringify(p, null, 1)}\n`);
}

/** A compare row's signatures, as the fixture keeps them. */
export function rowSignatures(rows: readonly { readonly scenario: string; readonly variants: unknown; readonly findings: readonly { readonly signature: string }[] }[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const r of rows) out[`${r.scenario} ${JSON.stringify(r.variants)}`] = [...new Set(r.findings.map((f) => f.signature))].sort();
  return out;
}

