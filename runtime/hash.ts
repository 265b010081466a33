// Hashes for traces and signatures. Not cryptographic: they only need to
// tell two traces apart, and to be the same for the same trace everywhere.

/**
 * Incremental hash of a trace, fed integers on the hot path (no strings are
 * built per step). Two independent 32-bit lanes give a 64-bit digest.
 */
export class TraceHash {
  private a = 0x811c9dc5 | 0;
  private b = 0x6a09e667 | 0;

  int(x: number): void {
    this.a = Math.imul(this.a ^ x, 0x01000193);
    this.b = Math.imul(this.b + x, 0x5bd1e995);
    this.b ^= this.b >>> 15;
  }

  str(s: string): void {
    for (let i = 0; i < s.length; i++) this.int(s.charCodeAt(i));
    this.int(0x2f);
  }

  digest(): string {
    return (this.a >>> 0).toString(16).padStart(8, '0') + (this.b >>> 0).toString(16).padStart(8, '0');
  }
}

export function hashString(s: string): string {
  const h = new TraceHash();
  h.str(s);
  return h.digest();
}
