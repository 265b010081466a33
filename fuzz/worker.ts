import { explore } from '../runtime/explore.ts';
import type { FoundFinding } from '../runtime/explore.ts';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { InputError } from '../runtime/input-error.ts';
import { makeStrategy } from '../runtime/strategies/index.ts';
import { kernelCheckers } from '../scenarios/kernel/checkers.ts';
import { tallyCalls } from './calls.ts';
import type { CallTally } from './calls.ts';
import { CoverageChecker, tapOutcomes } from './coverage.ts';
import { compileDocument, documentVariants } from './document.ts';
import type { FuzzDocument } from './document.ts';

/**
 * One unit of fuzz work, run by a pool thread in its own inline host: a
 * generated document explored for a few schedules with the kernel checkers
 * and the coverage collector. Pure data in and out (it crosses threads).
 */
export interface FuzzJob {
  readonly doc: FuzzDocument;
  /** The program's seed: the tasks' random streams and the strategy's choices derive from it. */
  readonly seed: number;
  readonly schedules: number;
  readonly maxSteps?: number;
}

export interface FuzzJobResult {
  readonly executions: number;
  readonly steps: number;
  /** Findings by signature, first sighting with its decisions (what a replay file stores). */
  readonly findings: readonly FoundFinding[];
  /** Coverage keys this thread had not seen before this job. */
  readonly coverage: readonly string[];
  /** How many of the first execution's calls got past the argument checks. */
  readonly calls: CallTally;
  /** Set when the document did not validate (a generator bug): the message. */
  readonly invalid: string | null;
}

/** The strategy every fuzz execution uses (its replay files say so). */
export const FUZZ_STRATEGY = 'portfolio';

/** Coverage this thread has reported already: only news travels back. */
const seen = new Set<string>();

export async function runFuzzJob(job: FuzzJob): Promise<FuzzJobResult> {
  const calls: CallTally = { total: 0, passed: 0 };
  let scenario;
  try {
    scenario = compileDocument(job.doc);
  } catch (e) {
    if (e instanceof InputError) return { executions: 0, steps: 0, findings: [], coverage: [], calls, invalid: e.message };
    throw e;
  }
  const program = scenario.program(documentVariants(job.doc));
  const host = await InlineHost.create(program);
  // handler outcomes of every execution of the job (the set-up's too, seen once: later ones start from its snapshot)
  const covered = new Set<string>();
  tapOutcomes(host, () => covered);
  try {
    const r = await explore(host, program, makeStrategy(FUZZ_STRATEGY, job.seed), {
      seed: job.seed, schedules: job.schedules,
      ...(job.maxSteps !== undefined ? { maxSteps: job.maxSteps } : {}),
      checkers: () => [...kernelCheckers(), new CoverageChecker()],
      onExecution: (x, schedule) => {
        if (schedule === 0) tallyCalls(x.results, calls);
        const coverage = x.checkers.find((c): c is CoverageChecker => c instanceof CoverageChecker);
        if (coverage === undefined) return;
        coverage.addLockEdges(x.checkers);
        for (const k of coverage.keys) covered.add(k);
      },
    });
    const fresh: string[] = [];
    for (const k of covered) {
      if (seen.has(k)) continue;
      seen.add(k);
      fresh.push(k);
    }
    return { executions: r.executions, steps: r.steps, findings: r.findings, coverage: fresh, calls, invalid: null };
  } finally {
    await host.close();
  }
}

/** piscina's task function. */
export default runFuzzJob;
