import { shrink } from '../cli/commands/shrink.ts';
import type { CommandIo } from '../cli/io.ts';

/**
 * A shrunk replay of a finding: the `shrink` command (runtime/shrink/,
 * scenarios/kernel/reduce.ts) run on the finding's replay file, writing
 * `replay.shrunk.json` next to it. Returns that path, or null when the
 * replay did not reproduce (the full replay stays the reproducer).
 */
export async function shrinkReplay(file: string): Promise<string | null> {
  let out: string | null = null;
  const io: CommandIo = {
    out: () => {},
    err: () => {},
    json: (doc) => {
      const r = doc as { readonly out?: unknown; readonly reproduced?: unknown };
      if (r.reproduced === true && typeof r.out === 'string') out = r.out;
    },
  };
  const code = await shrink([file, '--json'], io);
  return code === 0 ? out : null;
}
