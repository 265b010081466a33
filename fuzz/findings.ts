import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeAtomic } from '../cli/output.ts';
import type { FoundFinding } from '../runtime/explore.ts';
import { hashString } from '../runtime/hash.ts';
import { REPLAY_FORMAT, REPLAY_VERSION, replayOf } from '../runtime/replay-file.ts';
import type { ReplayFile } from '../runtime/replay-file.ts';
import type { FindingKind } from '../protocol/findings.ts';
import { readJson } from './corpus.ts';
import { documentVariants } from './document.ts';
import type { FuzzDocument } from './document.ts';
import { FUZZ_STRATEGY } from './worker.ts';

/**
 * A campaign's findings on disk: `<out>/findings/<kind>-<signature hash>/`
 * with the generated scenario document (`scenario.json`), a replay of the
 * first execution that found it (`replay.json`, whose `scenario` is the
 * document's path), the report (`report.txt`) and what a merge needs
 * (`finding.json`). The directory is built under a temporary name and
 * renamed into place, so it is either complete or absent — a campaign
 * killed at any moment leaves no half-written finding.
 */

export const FINDINGS_DIR = 'findings';

/** One finding in the JSON of `fuzz` and `merge` (the fields of `run`'s findings, and where the reproducer is). */
export interface FuzzFinding {
  readonly kind: FindingKind;
  readonly title: string;
  readonly signature: string;
  /** The campaign's execution count when it was first seen. */
  readonly firstSchedule: number;
  count: number;
  readonly replay: string;
  readonly report: string;
  /** The generated scenario document the replay runs. */
  readonly scenario: string;
  /** The generated program's name. */
  readonly program: string;
  /** A shrunk replay, once the shrink hook made one; null until then. */
  shrunk: string | null;
}

/** What finding.json holds. */
interface FindingMeta {
  readonly kind: FindingKind;
  readonly title: string;
  readonly signature: string;
  readonly firstSchedule: number;
  readonly count: number;
  readonly program: string;
  readonly shrunk: string | null;
}

export function findingDirName(kind: string, signature: string): string {
  return `${kind}-${hashString(signature).slice(0, 12)}`;
}

/**
 * Writes one finding's directory atomically and returns it as the JSON
 * shows it. `firstSchedule` is the campaign's execution count at the time.
 */
export function writeFuzzFinding(out: string, doc: FuzzDocument, f: FoundFinding, firstSchedule: number): FuzzFinding {
  const root = path.join(out, FINDINGS_DIR);
  const name = findingDirName(f.finding.kind, f.finding.signature);
  const dir = path.join(root, name);
  const scenario = path.join(dir, 'scenario.json');
  const replayPath = path.join(dir, 'replay.json');
  const replay: ReplayFile = {
    format: REPLAY_FORMAT, version: REPLAY_VERSION, scenario: './scenario.json', variants: documentVariants(doc), seed: f.seed,
    mode: 'controlled', strategy: FUZZ_STRATEGY, schedule: f.firstSchedule, decisions: f.decisions, finding: replayOf(f.finding), traceHash: f.traceHash,
  };
  const meta: FindingMeta = { kind: f.finding.kind, title: f.finding.title, signature: f.finding.signature, firstSchedule, count: f.count, program: doc.name, shrunk: null };
  if (!existsSync(dir)) {
    const tmp = path.join(root, `.tmp-${process.pid}-${name}`);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    writeFileSync(path.join(tmp, 'scenario.json'), JSON.stringify(doc, null, 1) + '\n');
    writeFileSync(path.join(tmp, 'replay.json'), JSON.stringify(replay) + '\n');
    writeFileSync(path.join(tmp, 'report.txt'), `${f.finding.title}\n\n${f.finding.report}`);
    writeFileSync(path.join(tmp, 'finding.json'), JSON.stringify(meta, null, 1) + '\n');
    renameSync(tmp, dir);
  }
  return { ...meta, replay: replayPath, report: f.finding.report, scenario, shrunk: null };
}

/** Rewrites a finding's finding.json (its count, its shrunk replay). */
export function updateFuzzFinding(out: string, f: FuzzFinding): void {
  const meta: FindingMeta = { kind: f.kind, title: f.title, signature: f.signature, firstSchedule: f.firstSchedule, count: f.count, program: f.program, shrunk: f.shrunk };
  writeAtomic(path.join(out, FINDINGS_DIR, findingDirName(f.kind, f.signature), 'finding.json'), JSON.stringify(meta, null, 1) + '\n');
}

/** The findings an output directory holds (complete directories only), in directory-name order. */
export function readFuzzFindings(out: string): FuzzFinding[] {
  const root = path.join(out, FINDINGS_DIR);
  if (!existsSync(root)) return [];
  const found: FuzzFinding[] = [];
  for (const name of readdirSync(root).sort()) {
    if (name.startsWith('.')) continue;
    const dir = path.join(root, name);
    if (!existsSync(path.join(dir, 'finding.json'))) continue;
    const meta = readJson(path.join(dir, 'finding.json')) as FindingMeta;
    // report.txt is the title, a blank line, then the report
    const report = readFileSync(path.join(dir, 'report.txt'), 'utf8').split('\n').slice(2).join('\n');
    found.push({ ...meta, replay: path.join(dir, 'replay.json'), scenario: path.join(dir, 'scenario.json'), report });
  }
  return found;
}

/**
 * What makes two campaign outputs parts of one campaign (docs/fuzz.md
 * "Merging"): the same seed, pins, schedules per program and shard count,
 * and the same iommu-lab version. Shards differ only in their index.
 */
export interface CampaignParams {
  readonly seed: number;
  readonly pins: Readonly<Record<string, string>>;
  readonly schedules: number;
  readonly shards: number;
  readonly version: string;
}

/** `<out>/campaign.json`: what every campaign (and merge) into this directory did together, and which campaign it is. */
export interface CampaignTotals {
  readonly executions: number;
  /** A random id per campaign output (nanoid); a merge keeps the first input's and lists all. */
  readonly campaignId?: string;
  readonly params?: CampaignParams;
  /** The campaign ids merged into this output. */
  readonly merged?: readonly string[];
  /** The last campaign into this output was stopped by a signal. */
  readonly interrupted?: boolean;
}

const TOTALS = 'campaign.json';

export function readCampaignTotals(out: string): CampaignTotals {
  const file = path.join(out, TOTALS);
  return existsSync(file) ? (readJson(file) as CampaignTotals) : { executions: 0 };
}

/** The first difference between two campaigns' parameters, in words, or null when they are one campaign's. */
export function campaignDifference(a: CampaignParams, b: CampaignParams): string | null {
  if (a.seed !== b.seed) return `seed ${a.seed} vs ${b.seed}`;
  const pins = (p: Readonly<Record<string, string>>): string => JSON.stringify(Object.entries(p).sort(([x], [y]) => x.localeCompare(y)));
  if (pins(a.pins) !== pins(b.pins)) return `pins ${pins(a.pins)} vs ${pins(b.pins)} (--fixed / --variant)`;
  if (a.schedules !== b.schedules) return `--schedules ${a.schedules} vs ${b.schedules}`;
  if (a.shards !== b.shards) return `${a.shards} vs ${b.shards} shards`;
  if (a.version !== b.version) return `iommu-lab ${a.version} vs ${b.version}`;
  return null;
}

export function writeCampaignTotals(out: string, t: CampaignTotals): void {
  writeAtomic(path.join(out, TOTALS), JSON.stringify(t) + '\n');
}
