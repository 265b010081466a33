import { InputError } from '../runtime/input-error.ts';
import { mix } from '../runtime/rng.ts';

/**
 * Sharding a campaign's seed space. A campaign runs programs 0, 1, 2, ...;
 * program g's seed is mix(campaign seed, g). Shard I of N (1-based, as
 * `--shard I/N`) runs the programs g ≡ I-1 (mod N), so N machines with the
 * same `--seed` and shards 1/N ... N/N cover the sequence together without
 * running any program twice — for as long as each of them runs.
 */
export interface Shard {
  /** 1-based. */
  readonly index: number;
  readonly count: number;
}

export const WHOLE: Shard = { index: 1, count: 1 };

export function parseShard(s: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(s);
  if (m === null) throw new InputError(`--shard takes I/N, e.g. 2/8 (got "${s}")`, null, '--shard');
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index < 1 || index > count) throw new InputError(`--shard ${s}: I must be between 1 and N`, null, '--shard');
  return { index, count };
}

export const shardKey = (s: Shard): string => `${s.index}/${s.count}`;

/** The campaign-wide program index of this shard's k-th program. */
export function programIndex(s: Shard, k: number): number {
  return s.index - 1 + s.count * k;
}

/** The seed of program g of a campaign. */
export function programSeed(campaignSeed: number, g: number): number {
  return mix(campaignSeed, g) >>> 0;
}
