import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FoundFinding } from '../runtime/explore.ts';
import type { ReplayFile } from '../runtime/replay-file.ts';
import { REPLAY_FORMAT, REPLAY_VERSION, replayOf } from '../runtime/replay-file.ts';
import { hashString } from '../runtime/hash.ts';
import type { VariantAssignment } from '../scenarios/scenario.ts';
import { variantKey } from '../scenarios/scenario.ts';

/** Writes a file so that a reader (or a killed run) never sees half of it. */
export function writeAtomic(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

export interface RunIdentity {
  readonly scenario: string;
  readonly variants: VariantAssignment;
  readonly strategy: string;
  readonly mode: 'controlled' | 'free';
  /** A scenario document's file: the replay names it instead of the scenario's name. */
  readonly source?: string;
}

/** The directory of one finding: out/<scenario>/<variants>/<kind>-<signature hash>/. */
export function findingDir(out: string, id: RunIdentity, signature: string, kind: string): string {
  const safe = (s: string): string => s.replace(/[^A-Za-z0-9=,._-]+/g, '_');
  return path.join(out, safe(id.scenario), safe(variantKey(id.variants)), `${kind}-${hashString(signature).slice(0, 8)}`);
}

/** The replay document of a finding: what `replay` reproduces and `shrink` shrinks. */
export function recordingOf(id: RunIdentity, f: FoundFinding): ReplayFile {
  return {
    format: REPLAY_FORMAT, version: REPLAY_VERSION, scenario: id.source ?? id.scenario, variants: id.variants, seed: f.seed,
    mode: id.mode, strategy: id.strategy, schedule: f.firstSchedule, decisions: f.decisions, finding: replayOf(f.finding), traceHash: f.traceHash,
  };
}

/** Writes a finding's replay file and report as soon as it is found; returns the replay path. */
export function writeFinding(out: string, id: RunIdentity, f: FoundFinding, replay: ReplayFile = recordingOf(id, f)): string {
  const dir = findingDir(out, id, f.finding.signature, f.finding.kind);
  const file = path.join(dir, 'replay.json');
  writeAtomic(file, JSON.stringify(replay) + '\n');
  writeAtomic(path.join(dir, 'report.txt'), `${f.finding.title}\n\n${f.finding.report}`);
  return file;
}
