import { replay } from '../cli/commands/replay.ts';

/**
 * Runs a stress finding's replay exactly as a user would (`iommu-lab replay
 * <file> --json`, controlled mode, inline host) and says whether it hit the
 * recorded finding again.
 */
export async function verifyReplay(file: string): Promise<boolean> {
  let doc: unknown = null;
  const code = await replay([file, '--json'], { out: () => {}, err: () => {}, json: (d) => { doc = d; } });
  return code === 0 && (doc as { reproduced?: unknown } | null)?.reproduced === true;
}
