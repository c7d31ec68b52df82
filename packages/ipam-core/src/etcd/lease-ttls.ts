/** The TTLs of many leases, `concurrency` look-ups in flight: the rule every transport shares. */
export async function ttlsOf(
  ids: readonly string[],
  concurrency: number,
  lookUp: (id: string) => Promise<number>,
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < ids.length; i = next++) {
      const id = ids[i] as string;
      out.set(id, await lookUp(id));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, worker));
  return out;
}
