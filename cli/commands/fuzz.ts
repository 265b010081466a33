import os from 'node:os';
import { defaultCorpus, runCampaign } from '../../fuzz/campaign.ts';
import type { CampaignResult } from '../../fuzz/campaign.ts';
import { parsePins } from '../../fuzz/generate.ts';
import { WHOLE, parseShard } from '../../fuzz/shard.ts';
import { InputError } from '../../runtime/input-error.ts';
import { has, int, num, parseArgs, str } from '../args.ts';
import type { CommandIo } from '../io.ts';

export const FUZZ_FLAGS = {
  time: { kind: 'value' },
  jobs: { kind: 'value' },
  shard: { kind: 'value' },
  seed: { kind: 'value' },
  out: { kind: 'value' },
  corpus: { kind: 'value' },
  variant: { kind: 'multi' },
  fixed: { kind: 'bool' },
  schedules: { kind: 'value' },
  programs: { kind: 'value' },
  'shrink-time': { kind: 'value' },
  json: { kind: 'bool' },
} as const;

/**
 * `iommu-lab fuzz`: a campaign of generated workloads (docs/fuzz.md). Each
 * new finding is written under `--out` and then printed as one line on
 * stdout, so a line on the screen always has its files on disk.
 */
export async function fuzz(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('fuzz', argv, FUZZ_FLAGS);
  if (p.positional.length > 0) throw new InputError(`"fuzz" takes no positional arguments (got ${p.positional.join(' ')})`);
  const json = has(p, 'json');
  const out = str(p, 'out') ?? 'out/fuzz';
  const time = num(p, 'time', 0) ?? 60;
  const programs = str(p, 'programs') === undefined ? undefined : int(p, 'programs', 1, 1);
  // new findings are shrunk after the campaign; by default for a quarter of its time more
  const shrinkTime = num(p, 'shrink-time', 0) ?? time / 4;
  const result = await runCampaign({
    timeMs: time * 1000,
    ...(programs !== undefined ? { maxPrograms: programs } : {}),
    jobs: int(p, 'jobs', 1, Math.max(1, os.availableParallelism())),
    shard: str(p, 'shard') === undefined ? WHOLE : parseShard(str(p, 'shard') as string),
    seed: int(p, 'seed', 0, 1),
    out,
    corpus: str(p, 'corpus') ?? defaultCorpus(out),
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
  return result.findings.length > 0 ? 1 : 0;
}

function summary(r: CampaignResult): string {
  const lines = [
    `fuzz: ${r.executions} executions of ${r.programs} programs in ${(r.elapsedMs / 1000).toFixed(1)}s (shard ${r.shard}, seed ${r.seed}, ${r.jobs} jobs)`,
    `corpus ${r.corpus}, coverage ${r.coverage}, calls past argument checks ${(r.calls.fraction * 100).toFixed(1)}% (${r.calls.passed}/${r.calls.total})`,
    `findings: ${r.findings.length}, known: ${r.known}${Object.keys(r.knownBy).length > 0 ? ` (${Object.entries(r.knownBy).map(([id, n]) => `${id} ${n}`).join(', ')})` : ''}`,
    ...r.findings.map((f) => `  ${f.kind}: ${f.title} (x${f.count}) ${f.shrunk ?? f.replay}`),
  ];
  if (r.invalid > 0) lines.push(`warning: ${r.invalid} generated documents did not validate (a generator bug)`);
  return lines.join('\n') + '\n';
}
