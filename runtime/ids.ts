import { customRandom } from 'nanoid';
import { SeededRng } from './rng.ts';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/**
 * Short ids for files and runs (replay file names, out directories). nanoid
 * only through a seeded `customRandom`, so the same seed names the same file.
 */
export function seededIdFactory(seed: number, size = 10): () => string {
  const rng = new SeededRng(seed);
  return customRandom(ALPHABET, size, (bytes) => {
    const out = new Uint8Array(bytes);
    for (let i = 0; i < bytes; i++) out[i] = rng.u32() & 0xff;
    return out;
  });
}
