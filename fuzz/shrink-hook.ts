/**
 * Where a campaign gets a shrunk replay of each new finding. The `shrink`
 * command (cli/commands/shrink.ts, runtime/shrink/) is being built
 * alongside; until it is wired in here this returns null and a finding
 * directory holds only the full replay (`finding.json` says `"shrunk":
 * null`). Wiring it: shrink the replay file `file` (a generated scenario
 * document's replay), write the result next to it as `shrunk.json`, and
 * return that path — or null if it did not reproduce.
 */
export function shrinkReplay(file: string): Promise<string | null> {
  void file;
  return Promise.resolve(null);
}
