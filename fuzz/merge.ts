import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../runtime/input-error.ts';
import { REPLAY_FORMAT } from '../runtime/replay-file.ts';
import { Corpus } from './corpus.ts';
import type { FuzzDocument } from './document.ts';
import { nanoid } from 'nanoid';
import { FINDINGS_DIR, campaignDifference, findingDirName, readCampaignTotals, readFuzzFindings, updateFuzzFinding, writeCampaignTotals } from './findings.ts';
import type { CampaignTotals, FuzzFinding } from './findings.ts';

/**
 * Combines the output directories of several campaigns (shards run on other
 * machines, or runs one after another) into one: findings deduplicated by
 * signature — the first directory, in the order given, that has a finding
 * keeps its reproducer — with their counts added; the corpora united (by
 * content hash) with their coverage; the execution totals added. The result
 * is itself a campaign output: a later `fuzz --out` resumes from it, a later
 * `merge` takes it as input.
 */

export interface MergeResult {
  readonly executions: number;
  readonly elapsedMs: number;
  readonly findings: readonly FuzzFinding[];
  readonly corpus: number;
  readonly coverage: number;
  readonly inputs: readonly string[];
}

/** An input must be a campaign output: a directory with findings/, corpus/ or campaign.json. */
function checkInput(dir: string): void {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new InputError('no such directory', dir);
  }
  if (!isDir) throw new InputError('not a directory', dir);
  if (![FINDINGS_DIR, 'corpus', 'campaign.json'].some((x) => existsSync(path.join(dir, x)))) {
    throw new InputError('not a fuzz output directory (no findings/, corpus/ or campaign.json)', dir);
  }
}

/** Copies one finding directory into `out` (atomically), pointing its replay at the copied document. */
function copyFinding(f: FuzzFinding, out: string): FuzzFinding {
  const name = findingDirName(f.kind, f.signature);
  const root = path.join(out, FINDINGS_DIR);
  const dir = path.join(root, name);
  const tmp = path.join(root, `.tmp-${process.pid}-${name}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  // every file of the finding's directory (shrunk replays, notes) comes along
  cpSync(path.dirname(f.replay), tmp, { recursive: true });
  const scenario = path.join(dir, 'scenario.json');
  // replays name their document relative to themselves ("./scenario.json"); one written before that named it from the campaign's directory
  for (const name of readdirSync(tmp).filter((n) => n.endsWith('.json') && n !== 'scenario.json' && n !== 'finding.json')) {
    const file = path.join(tmp, name);
    const replay = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    if (replay.format === REPLAY_FORMAT && replay.scenario !== './scenario.json') writeFileSync(file, JSON.stringify({ ...replay, scenario: './scenario.json' }) + '\n');
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return { ...f, replay: path.join(dir, 'replay.json'), scenario, shrunk: f.shrunk === null ? null : path.join(dir, path.basename(f.shrunk)) };
}

/**
 * Refuses to merge outputs of different campaigns (another seed, other pins,
 * another version: their findings and counts would mean nothing together),
 * unless `force`. Returns the parameters they share.
 */
function checkSameCampaign(inputs: readonly string[], force: boolean): CampaignTotals['params'] {
  let first: { dir: string; params: NonNullable<CampaignTotals['params']> } | null = null;
  for (const dir of inputs) {
    const params = readCampaignTotals(dir).params;
    if (params === undefined) continue;
    if (first === null) {
      first = { dir, params };
      continue;
    }
    const diff = campaignDifference(first.params, params);
    if (diff !== null && !force) throw new InputError(`not the same campaign as ${first.dir} (${diff}); --force merges anyway`, dir, 'campaign.json');
  }
  return first?.params;
}

export function mergeOutputs(inputs: readonly string[], out: string, force = false): MergeResult {
  const t0 = performance.now();
  if (inputs.length === 0) throw new InputError('"merge" takes at least one campaign output directory');
  for (const d of inputs) checkInput(d);
  const params = checkSameCampaign(inputs, force);
  const ids = [...new Set(inputs.map((d) => readCampaignTotals(d).campaignId).filter((x): x is string => x !== undefined))];
  const outAbs = path.resolve(out);
  const merged = new Map<string, FuzzFinding>();
  const order: FuzzFinding[] = [];
  let executions = 0;
  const corpus = Corpus.open(path.join(out, 'corpus'));
  for (const dir of inputs) {
    const same = path.resolve(dir) === outAbs;
    executions += readCampaignTotals(dir).executions;
    for (const f of readFuzzFindings(dir)) {
      const seen = merged.get(f.signature);
      if (seen !== undefined) {
        seen.count += f.count;
        continue;
      }
      const kept = same ? { ...f } : copyFinding(f, out);
      merged.set(f.signature, kept);
      order.push(kept);
    }
    const cdir = path.join(dir, 'corpus');
    if (existsSync(cdir) && path.resolve(cdir) !== path.resolve(corpus.dir)) {
      const other = Corpus.open(cdir);
      for (const doc of other.entries()) corpus.add(doc as FuzzDocument);
      for (const k of other.coverage) corpus.coverage.add(k);
      const next: Record<string, number> = { ...corpus.state.next };
      for (const [shard, n] of Object.entries(other.state.next)) next[shard] = Math.max(next[shard] ?? 0, n);
      corpus.state = { next, executions: corpus.state.executions + other.state.executions };
    }
  }
  for (const f of order) updateFuzzFinding(out, f);
  corpus.save();
  writeCampaignTotals(out, { executions, campaignId: ids[0] ?? nanoid(), ...(params !== undefined ? { params } : {}), merged: ids });
  return { executions, elapsedMs: Math.round(performance.now() - t0), findings: order, corpus: corpus.size, coverage: corpus.coverage.size, inputs };
}
