/** A check the analysis and the lease table share (not part of the package's API). */

/**
 * Whether two of the first `n` values are equal: an open-addressing set of typed
 * arrays, one pass (a native sort of a copy of 65,000 took ~10 ms cold, most of `ipam check`'s
 * analysis).
 */
export function hasRepeats(values: Uint32Array, n: number): boolean {
  let bits = 4;
  while (1 << bits < 2 * n) bits++;
  const mask = (1 << bits) - 1;
  const keys = new Uint32Array(1 << bits);
  const used = new Uint8Array(1 << bits);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    let s = Math.imul(v, 0x9e3779b1) >>> (32 - bits);
    while (used[s] === 1) {
      if (keys[s] === v) return true;
      s = (s + 1) & mask;
    }
    used[s] = 1;
    keys[s] = v;
  }
  return false;
}
