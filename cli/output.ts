import { accessSync, constants, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { InputError } from '../runtime/input-error.ts';
import path from 'node:path';
import type { FoundFinding } from '../runtime/explore.ts';
import type { ReplayFile } from '../runtime/replay-file.ts';
import { REPLAY_FORMAT, REPLAY_VERSION, replayOf, scenarioRef } from '../runtime/replay-file.ts';
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

/** Characters of one path component made from a name (a scenario's, a variant assignment's). */
const NAME_MAX = 80;

/**
 * A file or directory name made from a user's string (a scenario name,
 * variant values, a finding title): no separators, never `.` or `..` nor a
 * hidden name, at most NAME_MAX characters (a long name keeps its start and
 * gets a hash of the whole, so two long names stay apart).
 */
export function safeName(s: string): string {
  let out = s.replace(/[^A-Za-z0-9=,._-]+/g, '_').replace(/^\.+/, (dots) => '_'.repeat(dots.length));
  if (out === '') out = '_';
  if (out.length > NAME_MAX) out = `${out.slice(0, NAME_MAX - 9)}-${hashString(s).slice(0, 8)}`;
  return out;
}

/** The directory of one finding: out/<scenario>/<variants>/<kind>-<signature hash>/. */
export function findingDir(out: string, id: RunIdentity, signature: string, kind: string): string {
  return path.join(out, safeName(id.scenario), safeName(variantKey(id.variants)), `${safeName(kind)}-${hashString(signature).slice(0, 8)}`);
}

function problem(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOTDIR': return 'a part of the path is a file, not a directory';
    case 'EEXIST': return 'a file of that name exists';
    case 'EACCES':
    case 'EPERM': return 'not writable (permission denied)';
    case 'EROFS': return 'on a read-only file system';
    case 'ENAMETOOLONG': return 'the name is too long';
    default: return code ?? String(e);
  }
}

/**
 * Checks, before any work starts, that `dir` (given with `flag`) is a
 * directory this process can write, creating it if it is missing. Every
 * problem is exit 2 naming the flag and the path.
 */
export function checkOutDir(flag: string, dir: string): void {
  const fail = (what: string): never => {
    throw new InputError(`${flag} ${JSON.stringify(dir.slice(0, 200))}: ${what}`);
  };
  try {
    const st = statSync(dir, { throwIfNoEntry: false });
    if (st !== undefined && !st.isDirectory()) fail('is a file, not a directory');
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (e) {
    if (e instanceof InputError) throw e;
    fail(problem(e));
  }
}

/** Checks, before any work starts, that `file` (given with `flag`) can be written: not a directory, its directory writable. */
export function checkOutFile(flag: string, file: string): void {
  const st = statSync(file, { throwIfNoEntry: false });
  if (st?.isDirectory() === true) throw new InputError(`${flag} ${JSON.stringify(file.slice(0, 200))}: is a directory, not a file`);
  checkOutDir(`${flag} (its directory)`, path.dirname(path.resolve(file)));
  if (st !== undefined) {
    try {
      accessSync(file, constants.W_OK);
    } catch (e) {
      throw new InputError(`${flag} ${JSON.stringify(file.slice(0, 200))}: ${problem(e)}`);
    }
  }
}

/** The replay document of a finding: what `replay` reproduces and `shrink` shrinks (its scenario as given, for a recording kept in memory). */
export function recordingOf(id: RunIdentity, f: FoundFinding): ReplayFile {
  return {
    format: REPLAY_FORMAT, version: REPLAY_VERSION, scenario: id.source ?? id.scenario, variants: id.variants, seed: f.seed,
    mode: id.mode, strategy: id.strategy, schedule: f.firstSchedule, decisions: f.decisions, finding: replayOf(f.finding), traceHash: f.traceHash,
  };
}

/** Writes a finding's replay file and report as soon as it is found; returns the replay path. */
export function writeFinding(out: string, id: RunIdentity, f: FoundFinding, recording: ReplayFile = recordingOf(id, f)): string {
  const dir = findingDir(out, id, f.finding.signature, f.finding.kind);
  const file = path.join(dir, 'replay.json');
  // in the file, a document's path is relative to the replay file (runtime/replay-file.ts replayScenario)
  const replay: ReplayFile = { ...recording, scenario: scenarioRef(file, id.scenario, id.source) };
  writeAtomic(file, JSON.stringify(replay) + '\n');
  writeAtomic(path.join(dir, 'report.txt'), `${f.finding.title}\n\n${f.finding.report}`);
  return file;
}
