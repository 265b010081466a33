import type { CommandIo } from './io.ts';

/**
 * Progress on stderr for people: on a terminal one status line rewritten in
 * place (lines printed meanwhile go above it); otherwise, for a log or a
 * pipe, a plain line per update. Silent with --json (the document is for
 * programs; CLI.md).
 */
export class Progress {
  private readonly io: CommandIo;
  private readonly tty: boolean;
  private readonly silent: boolean;
  private shown = '';

  constructor(io: CommandIo, silent: boolean) {
    this.io = io;
    this.tty = io.errIsTTY === true;
    this.silent = silent;
  }

  /** The current state (rewritten in place on a terminal). */
  status(text: string): void {
    if (this.silent) return;
    if (!this.tty) {
      this.io.err(`${text}\n`);
      return;
    }
    this.shown = text;
    this.io.err(`\r\x1b[K${text}`);
  }

  /** A line that stays (a finding, a warning). */
  line(text: string): void {
    if (this.silent) return;
    if (!this.tty) {
      this.io.err(`${text}\n`);
      return;
    }
    this.io.err(`\r\x1b[K${text}\n${this.shown}`);
  }

  /** The status line ends; what follows starts on a line of its own. */
  end(): void {
    if (this.silent || !this.tty || this.shown === '') return;
    this.io.err(`\r\x1b[K`);
    this.shown = '';
  }

  /** For callers that take a plain `(line) => void`, or null when silent. */
  get sink(): ((line: string) => void) | null {
    return this.silent ? null : (l) => this.line(l);
  }
}

/** `12.3 s`, `4 min 05 s`. */
export function duration(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${String(Math.round(s - m * 60)).padStart(2, '0')} s`;
}
