/**
 * vitest matchers for iommu-lab results (`import 'iommu-lab/vitest'` in a
 * test file or in vitest's setupFiles):
 *
 *   await expect(run(doc, { variants: { order: 'abba' } })).resolves.toFind('deadlock');
 *   expect(await run(doc, { variants: { order: 'ordered' } })).toBeClean();
 *   await expect(await run(doc)).toReplay();
 */
import { expect } from 'vitest';
import { canonicalKind } from '../protocol/findings.ts';
import type { FindingKind } from '../protocol/findings.ts';
import { replay, resultScenario } from './index.ts';
import type { Finding } from './index.ts';

/** What the matchers take: a run result (or anything with findings, such as a replay result). */
interface WithFindings {
  readonly findings: readonly { readonly kind: FindingKind; readonly title: string }[];
}

function isWithFindings(x: unknown): x is WithFindings {
  return typeof x === 'object' && x !== null && Array.isArray((x as { findings?: unknown }).findings);
}

const describeFindings = (r: WithFindings): string => (r.findings.length === 0 ? 'no findings' : r.findings.map((f) => f.title).join('; '));

export const iommuLabMatchers = {
  /** The result has a finding of this kind (aliases such as lockdep's and KCSAN's titles count: canonicalKind). */
  toFind(received: unknown, kind: FindingKind) {
    if (!isWithFindings(received)) return { pass: false, message: () => 'expected an iommu-lab result with findings' };
    const want = canonicalKind(kind);
    const pass = received.findings.some((f) => canonicalKind(f.kind) === want);
    return {
      pass,
      message: () => (pass ? `expected no ${kind}, found: ${describeFindings(received)}` : `expected a ${kind}, found: ${describeFindings(received)}`),
    };
  },
  /** The result has no findings at all. */
  toBeClean(received: unknown) {
    if (!isWithFindings(received)) return { pass: false, message: () => 'expected an iommu-lab result with findings' };
    const pass = received.findings.length === 0;
    return { pass, message: () => (pass ? 'expected findings, the run was clean' : `expected a clean run, found: ${describeFindings(received)}`) };
  },
  /** Every finding of a run replays from its recording and hits the same signature. */
  async toReplay(received: unknown) {
    if (!isWithFindings(received) || !received.findings.every((f) => 'recording' in f)) {
      return { pass: false, message: () => 'expected a result of run() or compare() rows (findings with recordings)' };
    }
    const findings = received.findings as readonly Finding[];
    if (findings.length === 0) return { pass: false, message: () => 'expected findings to replay, the run was clean' };
    const scenario = resultScenario(received);
    const failed: string[] = [];
    for (const f of findings) {
      const r = await replay(f, scenario !== undefined ? { scenario } : {});
      if (!r.reproduced) failed.push(`${f.title}${r.divergence !== null ? ` (diverged: ${r.divergence})` : ''}`);
    }
    const pass = failed.length === 0;
    return {
      pass,
      message: () => (pass ? `expected a finding not to replay; all ${findings.length} did` : `${failed.length} of ${findings.length} findings did not replay: ${failed.join('; ')}`),
    };
  },
};

expect.extend(iommuLabMatchers);

declare module 'vitest' {
  // The one `any` here: declaration merging needs vitest's own `Matchers<T = any>` verbatim.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any, @typescript-eslint/no-unused-vars
  interface Matchers<T = any> {
    /** The result has a finding of this kind. */
    toFind(kind: FindingKind): void;
    /** The result has no findings. */
    toBeClean(): void;
    /** Every finding replays from its recording (await it). */
    toReplay(): Promise<void>;
  }
}
