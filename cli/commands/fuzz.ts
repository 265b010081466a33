import os from 'node:os';
import { defaultCorpus, runCampaign } from '../../fuzz/campaign.ts';
import type { CampaignResult } from '../../fuzz/campaign.ts';
import { parsePins } from '../../fuzz/generate.ts';
import { WHOLE, parseShard } from '../../fuzz/shard.ts';
import { InputError } from '../../runtime/input-error.ts';
import { JSON_FLAG, SEED_FLAG, has, int, num, parseArgs, str, noArguments } from '../args.ts';
import type { FlagSpec } from '../args.ts';
import type { CommandIo } from '../io.ts';
import { checkOutDir } from '../output.ts';
import { interruptCode } from '../../runtime/interrupt.ts';

export const FUZZ_FLAGS: Readonly<Record<string, FlagSpec>> = {
  time: { kind: 'value', arg: 'SECONDS', help: 'campaign time (default 60)' },
  jobs: { kind: 'value', arg: 'N', help: 'worker threads (default: the cores)' },
  shard: { kind: 'value', arg: 'I/N', help: 'this process runs shard I of N (docs/fuzz.md)' },
  seed: SEED_FLAG,
  out: { kind: 'value', arg: 'DIR', help: 'findings and the campaign summary (default out/fuzz)' },
  corpus: { kind: 'value', arg: 'DIR', help: 'the corpus to start from and grow (default DIR/corpus)' },
  variant: { kind: 'multi', arg: 'AXIS=VALUE', help: 'pin a variant axis' },
  fixed: { kind: 'bool', help: 'pin every axis to its fixed value (find new bugs, not the known ones)' },
  schedules: { kind: 'value', arg: 'N', help: 'schedules per program (default 6)' },
  programs: { kind: 'value', arg: 'N', help: 'stop after N programs' },
  'shrink-time': { kind: 'value', arg: 'SECONDS', help: 'time to shrink new findings after the campaign (default a quarter of --time)' },
  json: JSON_FLAG,
};

/**
 * `iommu-lab fuzz`: a campaign of generated workloads (docs/fuzz.md). Each
 * new finding is written under `--out` and then printed as one line on
 * stdout, so a line on the screen always has its files on disk.
 */
export async function fuzz(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('fuzz', argv, FUZZ_FLAGS);
  const json = has(p, 'json');
  noArguments('fuzz', p);
  const out = str(p, 'out') ?? 'out/fuzz';
  const corpus = str(p, 'corpus') ?? defaultCorpus(out);
  // at most 4 workers per core: more only costs memory (a 100000-job pool ran out of heap)
  const maxJobs = 4 * os.availableParallelism();
  const jobs = int(p, 'jobs', 1, Math.max(1, os.availableParallelism()));
  if (jobs > maxJobs) throw new InputError(`--jobs must be at most ${maxJobs} (4 per core on this machine; got ${jobs})`, null, '--jobs');
  checkOutDir('--out', out);
  checkOutDir('--corpus', corpus);
  const time = num(p, 'time', 0) ?? 60;
  const programs = str(p, 'programs') === undefined ? undefined : int(p, 'programs', 1, 1);
  // new findings are shrunk after the campaign; by default for a quarter of its time more
  const shrinkTime = num(p, 'shrink-time', 0) ?? time / 4;
  const result = await runCampaign({
    timeMs: time * 1000,
    ...(programs !== undefined ? { maxPrograms: programs } : {}),
    jobs,
    shard: str(p, 'shard') === undefined ? WHOLE : parseShard(str(p, 'shard') as string),
    seed: int(p, 'seed', 0, 1),
    out,
    corpus,
    pins: parsePins(p.flags.get('variant') ?? [], has(p, 'fixed')),
    schedules: int(p, 'schedules', 1, 6),
    shrinkTimeMs: shrinkTime * 1000,
    progress: json ? null : (l) => io.err(l + '\n'),
    onFinding: (f) => {
      if (!json) io.out(`FOUND ${f.kind}: ${f.title} -> ${f.replay}\n`);
    },
  });
  if (json) io.json(result);
  else io.out(summary(result));
  return interruptCode() ?? (result.findings.length > 0 ? 1 : 0);
}

function summary(r: CampaignResult): string {
  const lines = [
    `fuzz: ${r.executions} executions of ${r.programs} programs in ${(r.elapsedMs / 1000).toFixed(1)}s (shard ${r.shard}, seed ${r.seed}, ${r.jobs} jobs)`,
    `corpus ${r.corpus}, coverage ${r.coverage}, calls past argument checks ${(r.calls.fraction * 100).toFixed(1)}% (${r.calls.passed}/${r.calls.total})`,
    `findings: ${r.findings.length}, known: ${r.known}${Object.keys(r.knownBy).length > 0 ? ` (${Object.entries(r.knownBy).map(([id, n]) => `${id} ${n}`).join(', ')})` : ''}`,
    ...r.findings.map((f) => `  ${f.kind}: ${f.title} (x${f.count}) ${f.shrunk ?? f.replay}`),
  ];
  if (r.invalid > 0) lines.push(`warning: ${r.invalid} generated documents did not validate (a generator bug)`);
  if (r.interrupted) lines.push('interrupted: stopped by a signal before its budget; campaign.json written');
  return lines.join('\n') + '\n';
}
