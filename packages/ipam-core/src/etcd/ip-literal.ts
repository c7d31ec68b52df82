import { isIP } from "node:net";

/** The IP address of an endpoint URL whose host is an IP literal (`https://[::1]:2379` too). */
export function ipLiteralOf(url: string): string | undefined {
  try {
    const host = new URL(url).hostname.replace(/^\[(.*)\]$/, "$1");
    return isIP(host) === 0 ? undefined : host;
  } catch {
    return undefined;
  }
}
