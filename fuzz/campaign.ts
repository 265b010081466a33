import path from 'node:path';
import type { FoundFinding } from '../runtime/explore.ts';
import { Corpus } from './corpus.ts';
import type { FuzzDocument } from './document.ts';
import { nanoid } from 'nanoid';
import { interrupted, whenInterrupted } from '../runtime/interrupt.ts';
import { packageVersion } from '../cli/version.ts';
import { readCampaignTotals, readFuzzFindings, updateFuzzFinding, writeCampaignTotals, writeFuzzFinding } from './findings.ts';
import type { FuzzFinding } from './findings.ts';
import { generateDocument } from './generate.ts';
import type { VariantPins } from './generate.ts';
import { matchKnown } from './known.ts';
import { mutate } from './mutate.ts';
import { FuzzPool } from './pool.ts';
import { Rand } from './rand.ts';
import { programIndex, programSeed, shardKey } from './shard.ts';
import type { Shard } from './shard.ts';
import { shrinkReplay } from './shrink-hook.ts';
import type { FuzzJobResult } from './worker.ts';

/**
 * A fuzz campaign: programs generated or mutated from the corpus, run as
 * pool jobs, their coverage merged (a program that adds coverage joins the
 * corpus) and their findings deduplicated by signature, each new one
 * written to disk and then announced. Known findings (known.ts) are counted,
 * not written.
 */

export interface CampaignOptions {
  readonly timeMs: number;
  /** Stop after this many programs as well (tests, benchmarks); default: time only. */
  readonly maxPrograms?: number;
  readonly jobs: number;
  readonly shard: Shard;
  readonly seed: number;
  readonly out: string;
  readonly corpus: string;
  readonly pins: VariantPins;
  /** Schedules explored per program. */
  readonly schedules: number;
  /** After the campaign, new findings are shrunk (fuzz/shrink-hook.ts) for up to this long; 0: none. */
  readonly shrinkTimeMs?: number;
  /** Progress lines (stderr), or null. */
  readonly progress: ((line: string) => void) | null;
  /** Called once per new finding, after its files are in place. */
  readonly onFinding: (f: FuzzFinding) => void;
}

export interface CampaignResult {
  readonly executions: number;
  readonly elapsedMs: number;
  /** Every finding the output directory holds: earlier campaigns' first, with their counts updated. */
  readonly findings: readonly FuzzFinding[];
  /** Sightings of known findings (known.ts), and per entry id. */
  readonly known: number;
  readonly knownBy: Readonly<Record<string, number>>;
  readonly corpus: number;
  readonly coverage: number;
  readonly programs: number;
  /** Calls of the programs' first executions, and how many got past the kernel's argument checks. */
  readonly calls: { readonly total: number; readonly passed: number; readonly fraction: number };
  /** Generated documents that did not validate (a generator bug; should stay 0). */
  readonly invalid: number;
  readonly seed: number;
  readonly shard: string;
  readonly jobs: number;
  /** Stopped by SIGINT/SIGTERM before its budget (runtime/interrupt.ts). */
  readonly interrupted: boolean;
}

/** How often a program is fresh rather than a mutation of a corpus entry. */
const FRESH = 0.3;

/** The program a campaign runs as its g-th: fresh from the seed, or a child of a corpus entry. */
export function candidate(campaignSeed: number, g: number, corpus: readonly FuzzDocument[], pins: VariantPins): FuzzDocument {
  const seed = programSeed(campaignSeed, g);
  const r = new Rand(seed ^ 0x5f3759df);
  if (corpus.length === 0 || r.chance(FRESH)) return generateDocument(seed, { pins });
  return mutate(r.pick(corpus), r, pins, `fuzz-${seed.toString(16).padStart(8, '0')}`);
}

export async function runCampaign(o: CampaignOptions): Promise<CampaignResult> {
  const t0 = performance.now();
  const deadline = t0 + o.timeMs;
  const corpus = Corpus.open(o.corpus);
  const key = shardKey(o.shard);
  let k = corpus.state.next[key] ?? 0;
  const bySignature = new Map<string, FuzzFinding>(readFuzzFindings(o.out).map((f) => [f.signature, f]));
  const fresh: FuzzFinding[] = [];
  const knownBy: Record<string, number> = {};
  let known = 0;
  let executions = 0;
  let programs = 0;
  let invalid = 0;
  const calls = { total: 0, passed: 0 };
  const pool = new FuzzPool(o.jobs);
  const baseExecutions = corpus.state.executions;

  const handle = (doc: FuzzDocument, r: FuzzJobResult): void => {
    programs++;
    if (r.invalid !== null) {
      if (invalid++ === 0) o.progress?.(`fuzz: generated document ${doc.name} did not validate: ${r.invalid}`);
      return;
    }
    calls.total += r.calls.total;
    calls.passed += r.calls.passed;
    let added = false;
    for (const c of r.coverage) {
      if (corpus.coverage.has(c)) continue;
      corpus.coverage.add(c);
      added = true;
    }
    const start = baseExecutions + executions;
    executions += r.executions;
    // the corpus first: a finding announced (and a campaign killed right after) has its program's coverage kept
    if (added && corpus.add(doc) && performance.now() - lastSave > 1000) save();
    for (const f of r.findings) note(doc, f, start);
  };

  /** `start`: the executions the campaign had counted before this program's. */
  const note = (doc: FuzzDocument, f: FoundFinding, start: number): void => {
    const hit = matchKnown(f.finding, doc);
    if (hit !== null) {
      known += f.count;
      knownBy[hit.id] = (knownBy[hit.id] ?? 0) + f.count;
      return;
    }
    const seen = bySignature.get(f.finding.signature);
    if (seen !== undefined) {
      seen.count += f.count;
      return;
    }
    const written = writeFuzzFinding(o.out, doc, f, start + f.firstSchedule);
    bySignature.set(written.signature, written);
    fresh.push(written);
    o.onFinding(written);
  };

  // the resume point and the coverage go to disk when the corpus grows (at most once a second) and every few seconds
  let lastSave = t0;
  function save(): void {
    lastSave = performance.now();
    corpus.state = { next: { ...corpus.state.next, [key]: k }, executions: baseExecutions + executions };
    corpus.save();
  }

  const tick = setInterval(() => {
    const s = (performance.now() - t0) / 1000;
    o.progress?.(`fuzz: ${s.toFixed(0)}s ${executions} executions (${(executions / Math.max(s, 0.001)).toFixed(0)}/s), corpus ${corpus.size}, coverage ${corpus.coverage.size}, findings ${bySignature.size}, known ${known}`);
    if (performance.now() - lastSave > 5000) save();
  }, 2000);
  tick.unref();

  const inflight = new Set<Promise<void>>();
  const more = (): boolean => !interrupted() && performance.now() < deadline && (o.maxPrograms === undefined || programs + inflight.size < o.maxPrograms);
  const stop = whenInterrupted();
  try {
    while (more()) {
      while (inflight.size < o.jobs * 2 && more()) {
        const g = programIndex(o.shard, k);
        const doc = candidate(o.seed, g, corpus.entries(), o.pins);
        k++;
        const job = pool.run({ doc, seed: programSeed(o.seed, g), schedules: o.schedules }).then((r) => handle(doc, r));
        const p: Promise<void> = job.finally(() => inflight.delete(p));
        // a job the stop leaves running fails when its worker is terminated: nobody waits for it any more
        p.catch(() => {});
        inflight.add(p);
      }
      if (inflight.size > 0) await Promise.race([...inflight, stop.promise]);
    }
    // a stopped campaign does not wait for its running jobs: the pool's workers are terminated below
    if (!interrupted()) await Promise.race([Promise.all(inflight), stop.promise]);
  } finally {
    stop.off();
    clearInterval(tick);
    save();
    await pool.close();
  }

  // shrinking runs after the budget, finding by finding, while its own budget lasts; the rest keep shrunk: null
  const shrinkUntil = performance.now() + (o.shrinkTimeMs ?? 0);
  for (const f of fresh) {
    if (performance.now() >= shrinkUntil || interrupted()) break;
    o.progress?.(`fuzz: shrinking ${f.title}`);
    const shrunk = await shrinkReplay(f.replay);
    if (shrunk !== null) f.shrunk = shrunk;
  }
  for (const f of bySignature.values()) updateFuzzFinding(o.out, f);
  const before = readCampaignTotals(o.out);
  writeCampaignTotals(o.out, {
    ...before, executions: before.executions + executions, campaignId: before.campaignId ?? nanoid(),
    params: { seed: o.seed, pins: o.pins, schedules: o.schedules, shards: o.shard.count, version: packageVersion() },
    interrupted: interrupted(),
  });

  return {
    executions, elapsedMs: Math.round(performance.now() - t0),
    findings: [...bySignature.values()].sort((a, b) => a.firstSchedule - b.firstSchedule || a.signature.localeCompare(b.signature)),
    known, knownBy, corpus: corpus.size, coverage: corpus.coverage.size, programs,
    calls: { ...calls, fraction: calls.total === 0 ? 1 : Number((calls.passed / calls.total).toFixed(3)) },
    invalid, seed: o.seed, shard: key, jobs: o.jobs, interrupted: interrupted(),
  };
}

/** The default corpus directory of an output directory. */
export const defaultCorpus = (out: string): string => path.join(out, 'corpus');
