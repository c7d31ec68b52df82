/** etcd's Auth.Authenticate request and reply (rpc.proto: AuthenticateRequest, AuthenticateResponse). */
import { WireReader, WireWriter } from "../protobuf-wire.js";

/** The gRPC path of Authenticate. */
export const AUTHENTICATE = "/etcdserverpb.Auth/Authenticate";

/** AuthenticateRequest: name (1), password (2). */
export function encodeAuthenticate(name: string, password: string): Buffer {
  return new WireWriter().bytes(1, name).bytes(2, password).finish();
}

/** The token (2) of an AuthenticateResponse. */
export function decodeAuthenticate(buf: Buffer): string {
  const r = new WireReader(buf, "authenticate response");
  let token = "";
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (tag === ((2 << 3) | 2)) token = r.bytes().toString("utf8");
    else r.skip(tag & 7);
  }
  r.done();
  return token;
}
