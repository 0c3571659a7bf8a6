/**
 * src/lib/ip.ts, the allowlists' and throttling's address arithmetic: hand-computed tables for the
 * forms that bite (IPv4-mapped, compressed and expanded IPv6, zone ids, junk), and properties
 * checked against an independent BigInt model of addresses and prefixes.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { allowlistAdmits, clientNetwork, formatIp, inRange, parseCidr, parseIp, rangeContains } from "../../src/lib/ip";

function range(text: string) {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(`${text}: ${parsed.reason}`);
  return parsed.range;
}

function hex(bytes: Uint8Array | null): string | null {
  return bytes === null ? null : Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The model: an address is a 128-bit BigInt; IPv4 lives at ::ffff:0:0/96. */
const toBig = (bytes: Uint8Array) => bytes.reduce((n, b) => (n << 8n) | BigInt(b), 0n);
const fromBig = (n: bigint) => Uint8Array.from({ length: 16 }, (_, i) => Number((n >> BigInt(8 * (15 - i))) & 0xffn));
const mask = (bits: number) => (bits === 0 ? 0n : ((1n << BigInt(bits)) - 1n) << BigInt(128 - bits));
const modelIn = (address: bigint, network: bigint, bits: number) => (address & mask(bits)) === (network & mask(bits));

const address16 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
const v6Text = address16.map((b) => {
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push((((b[i] as number) << 8) | (b[i + 1] as number)).toString(16));
  return words.join(":");
});

describe("parseIp", () => {
  const table: [string, string | null][] = [
    ["203.0.113.7", "00000000000000000000ffffcb007107"],
    ["0.0.0.0", "00000000000000000000ffff00000000"],
    ["255.255.255.255", "00000000000000000000ffffffffffff"],
    ["::ffff:203.0.113.7", "00000000000000000000ffffcb007107"],
    ["::FFFF:cb00:7107", "00000000000000000000ffffcb007107"],
    ["0:0:0:0:0:ffff:203.0.113.7", "00000000000000000000ffffcb007107"],
    ["2001:db8::1", "20010db8000000000000000000000001"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "20010db8000000000000000000000001"],
    ["2001:DB8:0:0:0:0:0:1", "20010db8000000000000000000000001"],
    ["::", "00000000000000000000000000000000"],
    ["::1", "00000000000000000000000000000001"],
    ["1::", "00010000000000000000000000000000"],
    ["1:2:3:4:5:6:7::", "00010002000300040005000600070000"],
    ["::2:3:4:5:6:7:8", "00000002000300040005000600070008"],
    ["64:ff9b::192.0.2.33", "0064ff9b0000000000000000c0000221"],
    // Junk, and forms a client address never takes.
    ["", null],
    ["1.2.3", null],
    ["1.2.3.4.5", null],
    ["256.1.1.1", null],
    ["01.2.3.4", null],
    ["1.2.3.-4", null],
    [" 1.2.3.4", null],
    ["1:2:3:4:5:6:7:8:9", null],
    ["1::2::3", null],
    [":::", null],
    ["1:2:3:4:5:6:7:8::", null],
    ["12345::", null],
    ["g::1", null],
    ["fe80::1%eth0", null],
    ["fe80::1%25eth0", null],
    ["::ffff:300.1.1.1", null],
    ["::1.2.3", null],
    ["[::1]", null],
  ];
  it.each(table)("%j -> %s", (text, expected) => {
    expect(hex(parseIp(text))).toBe(expected);
  });

  it("reads back every address it formats, IPv4 as a dotted quad", () => {
    fc.assert(
      fc.property(address16, (bytes) => {
        const text = formatIp(bytes);
        expect(hex(parseIp(text))).toBe(hex(bytes));
        expect(text).toBe(text.toLowerCase());
      }),
    );
    fc.assert(
      fc.property(v4, (parts) => {
        expect(formatIp(parseIp(parts.join("."))!)).toBe(parts.join("."));
      }),
    );
  });

  it("reads the full uncompressed form of any address as the compressed one", () => {
    fc.assert(
      fc.property(v6Text, (text) => {
        expect(hex(parseIp(text))).toBe(hex(parseIp(formatIp(parseIp(text)!))));
      }),
    );
  });
});

/** CIDR text of a network: an IPv4(-mapped) network of /96 or longer in IPv4 terms, anything else in IPv6 terms. */
function cidrText(network: Uint8Array, bits: number): string {
  const text = formatIp(network);
  if (!text.includes(":")) return bits >= 96 ? `${text}/${bits - 96}` : `::ffff:${text}/${bits}`;
  return `${text}/${bits}`;
}

describe("parseCidr", () => {
  const table: [string, string | RegExp][] = [
    ["203.0.113.0/24", "203.0.113.0/24"],
    ["203.0.113.7", "203.0.113.7"],
    ["203.0.113.7/32", "203.0.113.7"],
    ["0.0.0.0/0", "0.0.0.0/0"],
    ["2001:0DB8:0000::/32", "2001:db8::/32"],
    ["::/0", "::/0"],
    // An IPv4-mapped range in IPv6 notation is written back as IPv4, with an IPv4 prefix length.
    ["::ffff:10.0.0.0/104", "10.0.0.0/8"],
    ["::ffff:1.2.3.0/120", "1.2.3.0/24"],
    ["::ffff:0:0/96", "0.0.0.0/0"],
    ["::ffff:1.2.3.4/128", "1.2.3.4"],
    ["::ffff:1.2.3.4/120", /did you mean 1\.2\.3\.0\/24\?/],
    ["  10.0.0.0/8 ", "10.0.0.0/8"],
    ["10.0.0.1/8", /host bits set; did you mean 10.0.0.0\/8\?/],
    ["2001:db8::1/32", /did you mean 2001:db8::\/32\?/],
    ["10.0.0.0/33", /prefix length outside 0-32/],
    ["::/129", /prefix length outside 0-128/],
    ["10.0.0.0/", /prefix length/],
    ["10.0.0.0/-1", /prefix length/],
    ["10.0.0.0/08x", /prefix length/],
    ["fe80::%eth0/64", /not an IPv4 or IPv6 address/],
    ["example.com/24", /not an IPv4 or IPv6 address/],
  ];
  it.each(table)("%j", (text, expected) => {
    const parsed = parseCidr(text);
    if (typeof expected === "string") expect(parsed).toMatchObject({ ok: true, range: { text: expected } });
    else expect(parsed.ok ? parsed.range.text : parsed.reason).toMatch(expected);
  });

  it("canonical text parses to the same range", () => {
    fc.assert(
      fc.property(address16, fc.nat(128), (bytes, bits) => {
        const network = fromBig(toBig(bytes) & mask(bits));
        const r = range(cidrText(network, bits));
        expect(range(r.text)).toEqual(r);
      }),
    );
  });

  it("canonical text of an IPv4-mapped range written in IPv6 notation parses to the same range", () => {
    fc.assert(
      fc.property(fc.array(fc.nat(255), { minLength: 4, maxLength: 4 }), fc.nat(32), (v4, prefix) => {
        const bits = 96 + prefix;
        const network = fromBig(toBig(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4])) & mask(bits));
        const r = range(`::ffff:${[...network.subarray(12)].join(".")}/${bits}`);
        expect(range(r.text)).toEqual(r);
      }),
    );
  });
});

describe("inRange and rangeContains agree with the BigInt model", () => {
  it("inRange", () => {
    fc.assert(
      fc.property(address16, address16, fc.nat(128), (address, base, bits) => {
        const network = fromBig(toBig(base) & mask(bits));
        const r = { bytes: network, bits, text: "" };
        expect(inRange(address, r)).toBe(modelIn(toBig(address), toBig(network), bits));
      }),
    );
  });

  it("rangeContains: inner within outer exactly when its network is in outer and it is no larger", () => {
    fc.assert(
      fc.property(address16, fc.nat(128), fc.nat(128), fc.boolean(), (base, outerBits, innerBits, related) => {
        const outer = { bytes: fromBig(toBig(base) & mask(outerBits)), bits: outerBits, text: "" };
        // Half the cases: an inner range carved out of the outer one's address.
        const innerBase = related ? base : Uint8Array.from(base, (b, i) => (i === 15 ? b ^ 1 : b ^ 0x80));
        const inner = { bytes: fromBig(toBig(innerBase) & mask(innerBits)), bits: innerBits, text: "" };
        const expected = innerBits >= outerBits && modelIn(toBig(inner.bytes), toBig(outer.bytes), outerBits);
        expect(rangeContains(outer, inner)).toBe(expected);
        if (expected) expect(inRange(inner.bytes, outer)).toBe(true);
      }),
    );
  });

  it("hand-computed containment", () => {
    expect(rangeContains(range("10.0.0.0/8"), range("10.1.2.0/24"))).toBe(true);
    expect(rangeContains(range("10.0.0.0/8"), range("10.0.0.0/8"))).toBe(true);
    expect(rangeContains(range("10.0.0.0/8"), range("10.0.0.0/7"))).toBe(false);
    expect(rangeContains(range("10.0.0.0/8"), range("11.0.0.1"))).toBe(false);
    expect(rangeContains(range("2001:db8::/32"), range("2001:db8:ffff::/48"))).toBe(true);
    expect(rangeContains(range("2001:db8::/32"), range("2001:db9::/48"))).toBe(false);
    // IPv4 ranges live inside ::ffff:0:0/96, so an IPv6 /96 of that prefix holds every IPv4 range.
    expect(rangeContains(range("::ffff:0.0.0.0/96"), range("192.0.2.0/24"))).toBe(true);
    expect(rangeContains(range("0.0.0.0/0"), range("2001:db8::1"))).toBe(false);
    expect(rangeContains(range("::/0"), range("192.0.2.1"))).toBe(true);
  });
});

describe("allowlistAdmits", () => {
  it("admits a client by any spelling of its address, and refuses missing or junk addresses", () => {
    const list = ["203.0.113.0/24", "2001:db8:abcd::/48"];
    for (const ip of ["203.0.113.9", "::ffff:203.0.113.9", "::ffff:cb00:7109", "2001:DB8:ABCD:0:0:0:0:1", "2001:db8:abcd::1"]) {
      expect(allowlistAdmits(list, ip), ip).toBe(true);
    }
    for (const ip of [null, "", "203.0.114.1", "2001:db8:abce::1", "fe80::1%eth0", "203.0.113.9 ", "x"]) {
      expect(allowlistAdmits(list, ip), String(ip)).toBe(false);
    }
  });
});

describe("clientNetwork (brute-force throttling's client)", () => {
  it.each([
    ["203.0.113.7", "203.0.113.7"],
    ["::ffff:203.0.113.7", "203.0.113.7"],
    ["::ffff:cb00:7107", "203.0.113.7"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:DB8:1:2::", "2001:db8:1:2::/64"],
    ["2001:0db8:0001:0002:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"],
    ["::1", "::/64"],
    ["not-an-ip", "not-an-ip"],
  ])("%s -> %s", (ip, expected) => {
    expect(clientNetwork(ip)).toBe(expected);
  });

  it("two IPv6 addresses are one client exactly when they share their first 64 bits", () => {
    fc.assert(
      fc.property(v6Text, v6Text, (a, b) => {
        const x = parseIp(a)!;
        const y = parseIp(b)!;
        const mapped = (z: Uint8Array) => toBig(z) >> 32n === 0xffffn;
        fc.pre(!mapped(x) && !mapped(y));
        expect(clientNetwork(a) === clientNetwork(b)).toBe(toBig(x) >> 64n === toBig(y) >> 64n);
      }),
    );
  });
});
