import { describe, expect, it } from "vitest";
import { flanneldArgv } from "./flanneld-argv.js";

const err = (argv: string[]) => {
  try {
    flanneldArgv(argv);
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  return "no error";
};

describe("flanneldArgv", () => {
  it("turns a flanneld unit's Go-style flags into commander's", () => {
    expect(
      flanneldArgv([
        "agent",
        "-etcd-endpoints=http://192.0.2.1:2379",
        "-etcd-prefix",
        "/coreos.com/network",
        "--iface=eth0",
        "-ip-masq=true",
        "-v=2",
        "-subnet-lease-renew-margin",
        "30",
      ]),
    ).toEqual([
      "agent",
      "--etcd-endpoints=http://192.0.2.1:2379",
      "--etcd-prefix=/coreos.com/network",
      "--iface=eth0",
      "--ip-masq",
      "--log-verbosity=2",
      "--subnet-lease-renew-margin=30",
    ]);
  });

  it("reads booleans as Go does: bare, =true, =false, =1, =0", () => {
    expect(flanneldArgv(["agent", "-ip-masq"])).toEqual(["agent", "--ip-masq"]);
    expect(flanneldArgv(["agent", "--ip-masq=false"])).toEqual(["agent", "--no-ip-masq"]);
    expect(flanneldArgv(["agent", "-release-on-exit=1"])).toEqual(["agent", "--release-on-exit"]);
    expect(flanneldArgv(["agent", "-ip-masq=0", "-iface", "eth0"])).toEqual([
      "agent",
      "--no-ip-masq",
      "--iface=eth0",
    ]);
    expect(err(["agent", "-ip-masq=yes"])).toBe('-ip-masq="yes" is not a boolean (true or false)');
  });

  it("leaves global flags before the command and other commands alone", () => {
    expect(flanneldArgv(["--endpoints", "http://x:2379", "agent", "-iface=eth0"])).toEqual([
      "--endpoints",
      "http://x:2379",
      "agent",
      "--iface=eth0",
    ]);
    expect(flanneldArgv(["lease", "list", "-o", "json"])).toEqual(["lease", "list", "-o", "json"]);
    expect(flanneldArgv(["-v"])).toEqual(["-v"]);
  });

  it("names every flanneld flag it does not implement, in one usage error", () => {
    expect(err(["agent", "-kube-subnet-mgr", "-iptables-resync=5", "-iface=eth0"])).toBe(
      "podnet agent does not implement flanneld's -kube-subnet-mgr, -iptables-resync (podnet leases from etcd only; podnet checks its rules at every reconcile (--reconcile-interval))",
    );
    expect(err(["agent", "-v"])).toMatch(/^-v wants a log verbosity/);
  });

  it("passes unknown flags on as double-dash, for commander to name", () => {
    expect(flanneldArgv(["agent", "-no-such-flag=1"])).toEqual(["agent", "--no-such-flag=1"]);
  });
});
