/** Where a command writes: stdout for results, stderr for progress and errors. */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
  /** Exactly one JSON document on stdout. */
  json(doc: unknown): void;
}

export const processIo: CommandIo = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  json: (d) => void process.stdout.write(JSON.stringify(d, null, 2) + '\n'),
};
