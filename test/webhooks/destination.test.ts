/**
 * The webhook destination check (src/webhooks/destination.ts) as a pure function: literal
 * addresses in every spelling and tunnel form, names, schemes. Names are not resolved here
 * (resolverUrl null); webhooks.test.ts covers resolution through the test resolver.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ApiError } from "../../src/errors";
import { formatIp, parseIp } from "../../src/lib/ip";
import { checkDestination, isInternalAddress } from "../../src/webhooks/destination";

const STRICT = { allowInsecureLoopback: false, resolverUrl: null };
const DEV = { allowInsecureLoopback: true, resolverUrl: null };

async function refusal(url: string, policy = STRICT): Promise<string | null> {
  try {
    await checkDestination(url, policy);
    return null;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    expect(err.code).toBe("invalid_request");
    return err.description;
  }
}

const PRIVATE_V4 = ["10.1.2.3", "127.0.0.1", "169.254.169.254", "172.16.0.1", "192.168.1.1", "100.64.0.1", "0.0.0.0", "192.0.0.1"];
const PUBLIC_V4 = ["8.8.8.8", "1.1.1.1", "93.184.215.14"];

/** 6to4 address embedding `v4`: 2002:AABB:CCDD::1. */
function sixToFour(v4: string): string {
  const [a, b, c, d] = v4.split(".").map(Number) as [number, number, number, number];
  return `2002:${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}::1`;
}

describe("webhook destinations: literal addresses", () => {
  it.each([
    ...PRIVATE_V4.map((ip) => [ip, ip]),
    // The same private addresses in IPv6 clothing.
    ...PRIVATE_V4.map((ip) => [`[::ffff:${ip}]`, ip]),
    ...PRIVATE_V4.map((ip) => [`[${sixToFour(ip)}]`, `6to4 ${ip}`]),
    ...PRIVATE_V4.map((ip) => [`[64:ff9b::${ip}]`, `NAT64 ${ip}`]),
    ...PRIVATE_V4.map((ip) => [`[::${ip}]`, `IPv4-compatible ${ip}`]),
    ["[2001:0:4136:e378:8000:63bf:3fff:fdd2]", "Teredo"],
    ["[2001::1]", "Teredo"],
    ["[64:ff9b:1::a00:1]", "local-use NAT64"],
    ["[fec0::1]", "site-local"],
    ["[feff::1]", "site-local, upper end"],
    ["[fe80::1]", "link-local"],
    ["[fd00::1]", "unique local"],
    ["[::1]", "loopback"],
    ["[::]", "unspecified"],
    ["[ff02::1]", "multicast"],
    ["[::ffff:7f00:1]", "IPv4-mapped loopback, hex"],
    ["[0:0:0:0:0:ffff:a00:1]", "IPv4-mapped 10.0.0.1, expanded"],
    ["2130706433", "127.0.0.1 as one number"],
    ["0x7f.1", "127.0.0.1 in hex shorthand"],
    ["017700000001", "127.0.0.1 in octal"],
  ])("refuses https://%s/ (%s)", async (host) => {
    expect(await refusal(`https://${host}/hook`)).toMatch(/^url must not point to a private, loopback or reserved address/);
  });

  it.each([...PUBLIC_V4, "[2606:4700:4700::1111]", `[${sixToFour("8.8.8.8")}]`, "[2a00:1450:4001:80b::200e]"])(
    "admits https://%s/",
    async (host) => {
      expect(await refusal(`https://${host}/hook`)).toBeNull();
    },
  );

  it("refuses every 6to4 address that embeds an internal IPv4 address, and admits the rest", () => {
    fc.assert(
      fc.property(fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)), fc.nat(0xffff), (v4, suffix) => {
        const embedded = v4.join(".");
        const address = parseIp(
          `2002:${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}::${suffix.toString(16)}`,
        )!;
        expect(isInternalAddress(address)).toBe(isInternalAddress(parseIp(embedded)!));
      }),
    );
  });

  it("refuses anything in the Teredo, NAT64, IPv4-compatible and site-local prefixes, whatever follows", () => {
    const prefixes: [number[], number][] = [
      [[0x20, 0x01, 0, 0], 32],
      [[0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0], 96],
      [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 96],
      [[0xfe, 0xc0], 10],
    ];
    fc.assert(
      fc.property(fc.constantFrom(...prefixes), fc.uint8Array({ minLength: 16, maxLength: 16 }), ([prefix, bits], rest) => {
        const address = Uint8Array.from(rest);
        address.set(prefix.slice(0, Math.floor(bits / 8)));
        if (bits % 8) address[1] = ((prefix[1] as number) & 0xc0) | ((address[1] as number) & 0x3f);
        expect(isInternalAddress(address), formatIp(address)).toBe(true);
      }),
    );
  });
});

describe("webhook destinations: names, schemes and the dev loopback", () => {
  it.each([
    ["http://hooks.example.com/x", /^url must be https/],
    ["ftp://hooks.example.com/x", /^url must be https/],
    ["https://user:pw@hooks.example.com/x", /^url must not carry credentials/],
    ["not a url", /^url must be an absolute URL/],
    ["https://localhost/x", /^url must not point to an internal host name/],
    ["https://printer.local/x", /internal host name/],
    ["https://intranet/x", /internal host name/],
    ["https://db.internal/x", /internal host name/],
    ["http://127.0.0.1:8080/x", /^url must be https/],
  ])("refuses %s", async (url, message) => {
    expect(await refusal(url)).toMatch(message);
  });

  it("lets a dev deployment use http on loopback only", async () => {
    expect(await refusal("http://127.0.0.1:8080/x", DEV)).toBeNull();
    expect(await refusal("http://[::1]:8080/x", DEV)).toBeNull();
    expect(await refusal("http://localhost:8080/x", DEV)).toBeNull();
    expect(await refusal("http://10.0.0.1/x", DEV)).toMatch(/^url must be https/);
    expect(await refusal("https://[::ffff:10.0.0.1]/x", DEV)).toMatch(/private, loopback or reserved/);
  });
});
