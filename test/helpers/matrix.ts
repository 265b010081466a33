import { describe, expect, it } from 'vitest';
import { InlineHost } from '../../runtime/hosts/inline.ts';
import { PctStrategy } from '../../runtime/strategies/pct.ts';
import { RandomStrategy } from '../../runtime/strategies/random.ts';
import type { Strategy } from '../../runtime/strategies/strategy.ts';
import { checkMatrix } from '../../scenarios/checks/matrix.ts';
import type { CheckCase, MatrixOptions } from '../../scenarios/checks/matrix.ts';
import { exploreCase } from '../../scenarios/checks/run.ts';
import type { FindingKind } from '../../protocol/findings.ts';

/** The matrix cases whose programs use the actor module `module`. */
export function casesOf(module: string, opts: MatrixOptions = {}): CheckCase[] {
  return checkMatrix(opts).filter((c) => c.program.actors.some((a) => a.module === module));
}

export function caseByName(module: string, name: string, opts: MatrixOptions = {}): CheckCase {
  const c = casesOf(module, opts).find((x) => x.name === name);
  if (c === undefined) throw new Error(`no matrix case ${name}`);
  return c;
}

/** The kinds a case may show: the one it exists for and those the same bug legitimately yields. */
export const allowedKinds = (c: CheckCase): Set<FindingKind> => new Set([...(c.expected === null ? [] : [c.expected]), ...(c.also ?? [])]);

/**
 * One test per case, in the inline host: a clean case stays clean in every
 * schedule explored; a flagged one shows its kind (in every schedule when
 * `always`); no case shows a kind it does not allow, or ends other than
 * completed.
 */
export function matrixSuite(title: string, module: string, minCases: number): void {
  describe(title, () => {
    it('has its cases', () => {
      expect(casesOf(module).length).toBeGreaterThanOrEqual(minCases);
    });

    for (const c of casesOf(module)) {
      it(`${c.name}: ${c.expected ?? 'clean'}`, async () => {
        const host = await InlineHost.create(c.program);
        try {
          const schedules = c.expected === null ? 40 : c.always ? 12 : 200;
          const x = await exploreCase(host, c, new RandomStrategy(7), { seed: 1, schedules, untilFound: !c.always });
          expect([...x.outcomes]).toEqual([]);
          expect([...x.kinds].filter((k) => !allowedKinds(c).has(k))).toEqual([]);
          if (c.expected === null) expect([...x.signatures]).toEqual([]);
          else if (c.always) expect(x.hits).toBe(x.runs);
          else expect(x.first).not.toBeNull();
        } finally {
          await host.close();
        }
      });
    }
  });
}

/** The signatures of the expected kind in the first execution that shows it. */
async function signaturesOf(c: CheckCase, seed: number, strategy: Strategy): Promise<string[]> {
  const host = await InlineHost.create(c.program);
  try {
    const x = await exploreCase(host, c, strategy, { seed, schedules: 200, untilFound: true });
    expect(x.first, `${c.program.name} found nothing`).not.toBeNull();
    return (x.first?.run.findings ?? []).filter((f) => f.kind === c.expected).map((f) => f.signature).sort();
  } finally {
    await host.close();
  }
}

/**
 * Signatures do not change with seed, strategy, task ids or object ids: every
 * flagged case of `module` gives the same signatures with seed 1 and random
 * choice as with another seed, PCT, and every instance renamed (tag "job");
 * and none contains an instance name (`forbidden`).
 */
export async function expectStableSignatures(module: string, forbidden: RegExp): Promise<void> {
  for (const c of casesOf(module).filter((x) => x.expected !== null)) {
    const a = await signaturesOf(c, 1, new RandomStrategy(7));
    const b = await signaturesOf(caseByName(module, c.name, { tag: 'job' }), 424242, new PctStrategy(99, 3));
    expect(a.length).toBeGreaterThan(0);
    expect(b, c.name).toEqual(a);
    for (const sig of a) expect(sig).not.toMatch(forbidden);
  }
}
