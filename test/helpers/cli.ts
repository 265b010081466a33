import { main } from '../../cli/main.ts';
import type { CommandIo } from '../../cli/io.ts';

/** Runs the CLI in-process and captures what it prints (stdout, stderr, the JSON document) and its exit code. */
export async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string; json: unknown }> {
  let out = '';
  let err = '';
  let json: unknown = undefined;
  const io: CommandIo = {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    json: (d) => {
      json = JSON.parse(JSON.stringify(d));
      out += JSON.stringify(d);
    },
  };
  const code = await main(argv, io);
  return { code, out, err, json };
}
