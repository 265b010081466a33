/** Where a command writes: stdout for results, stderr for progress and errors. */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
  /** Exactly one JSON document on stdout. */
  json(doc: unknown): void;
  /** stderr is a terminal: progress rewrites one status line instead of printing a line per update. */
  readonly errIsTTY?: boolean;
}

export const processIo: CommandIo = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  json: (d) => void process.stdout.write(JSON.stringify(d, null, 2) + '\n'),
  errIsTTY: process.stderr.isTTY === true,
};
