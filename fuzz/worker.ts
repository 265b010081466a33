import type { Checker } from '../checkers/checker.ts';
import { runExecution } from '../runtime/execution.ts';
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
  let current: Set<string> | null = null;
  tapOutcomes(host, () => current);
  const strategy = makeStrategy(FUZZ_STRATEGY, job.seed);
  const found = new Map<string, FoundFinding>();
  const fresh: string[] = [];
  let steps = 0;
  let n = 0;
  try {
    for (; n < job.schedules; n++) {
      await host.reset();
      const coverage = new CoverageChecker();
      const checkers: Checker[] = [...kernelCheckers(), coverage];
      current = coverage.keys;
      const r = await runExecution(host, program, strategy, {
        seed: job.seed, execution: n, checkers,
        ...(job.maxSteps !== undefined ? { maxSteps: job.maxSteps } : {}),
      });
      current = null;
      coverage.addLockEdges(checkers);
      steps += r.steps;
      if (n === 0) tallyCalls(r.results, calls);
      for (const k of coverage.keys) {
        if (seen.has(k)) continue;
        seen.add(k);
        fresh.push(k);
      }
      for (const f of r.findings) {
        const had = found.get(f.signature);
        if (had !== undefined) had.count++;
        else found.set(f.signature, { finding: f, firstSchedule: n, seed: job.seed, count: 1, decisions: r.decisions, traceHash: r.traceHash });
      }
    }
  } finally {
    await host.close();
  }
  return { executions: n, steps, findings: [...found.values()], coverage: fresh, calls, invalid: null };
}

/** piscina's task function. */
export default runFuzzJob;
