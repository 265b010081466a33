import { main } from './main.ts';
import { installSignalHandlers } from '../runtime/interrupt.ts';

installSignalHandlers();

/**
 * Exit explicitly: every run has closed its hosts, and the exit code is the
 * contract. But only once stdout and stderr have taken everything written:
 * to a pipe they are written asynchronously, and process.exit() would cut
 * a large report or JSON document at 64 KiB.
 */
function exit(code: number): void {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

main(process.argv.slice(2)).then(
  (code) => exit(code),
  (e: unknown) => {
    process.stderr.write(`iommu-lab: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    exit(3);
  },
);
