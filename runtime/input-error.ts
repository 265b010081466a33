/**
 * Bad input from the user: a flag, a scenario or a replay file. The CLI
 * prints `message` alone (no stack) and exits with code 2.
 */
export class InputError extends Error {
  readonly file: string | null;
  /** Where inside the document, e.g. "tasks[0].ops[2].dev". */
  readonly where: string | null;

  constructor(message: string, file: string | null = null, where: string | null = null) {
    super([file, where].filter((x) => x !== null).join(': ') + (file !== null || where !== null ? ': ' : '') + message);
    this.name = 'InputError';
    this.file = file;
    this.where = where;
  }
}
