// Incremental 64-bit FNV-1a over strings, kept in two 32-bit halves so that
// it needs no BigInt on the hot path. Used for trace hashes and signatures.

export class TraceHash {
  private hi = 0xcbf29ce4 | 0;
  private lo = 0x84222325 | 0;

  update(s: string): void {
    let hi = this.hi;
    let lo = this.lo;
    for (let i = 0; i < s.length; i++) {
      lo ^= s.charCodeAt(i);
      // multiply (hi:lo) by the FNV-64 prime 0x100000001b3 = 2^40 + 0x1b3
      const loMul = lo >>> 0;
      const p0 = loMul * 0x1b3;
      const carry = Math.floor(p0 / 4294967296);
      const newLo = p0 >>> 0;
      const newHi = (Math.imul(hi, 0x1b3) + carry + (loMul << 8)) | 0;
      hi = newHi;
      lo = newLo | 0;
    }
    this.hi = hi;
    this.lo = lo;
  }

  digest(): string {
    return (this.hi >>> 0).toString(16).padStart(8, '0') + (this.lo >>> 0).toString(16).padStart(8, '0');
  }
}

export function hashString(s: string): string {
  const h = new TraceHash();
  h.update(s);
  return h.digest();
}
