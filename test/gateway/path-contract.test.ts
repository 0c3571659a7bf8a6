import { describe, expect, it } from "vitest";
import { judgePath, type PathMode } from "../../src/gateway/path-contract";
import { compilePolicy, routeRule } from "../../src/gateway/policy";

/** [raw path, reject mode's result, normalize mode's result]: segments + forwarded path, or the refusal's text. */
type Row = [string, Expect, Expect];
type Expect = { segments: string[]; forward: string } | RegExp;

const ok = (segments: string[], forward: string): Expect => ({ segments, forward });

// docs/gateway.md's rules and docs/security-model.md's path table, as data.
const TABLE: Row[] = [
  // Plain paths: judged and forwarded as sent, in both modes.
  ["/", ok([], "/"), ok([], "/")],
  ["/api/v1/resources", ok(["api", "v1", "resources"], "/api/v1/resources"), ok(["api", "v1", "resources"], "/api/v1/resources")],
  ["/a.b/...", ok(["a.b", "..."], "/a.b/..."), ok(["a.b", "..."], "/a.b/...")],
  ["/v1/x:y@z!$&'()*+,=", ok(["v1", "x:y@z!$&'()*+,="], "/v1/x:y@z!$&'()*+,="), ok(["v1", "x:y@z!$&'()*+,="], "/v1/x:y@z!$&'()*+,=")],
  ["/a|b/[c]", ok(["a|b", "[c]"], "/a|b/[c]"), ok(["a|b", "[c]"], "/a|b/[c]")],
  // Case: matched folded (A-Z only) and as sent, forwarded as sent.
  ["/API/v1/Admin", ok(["api", "v1", "admin"], "/API/v1/Admin"), ok(["api", "v1", "admin"], "/API/v1/Admin")],
  // Unicode lower-casing would fold the Kelvin sign (U+212A) to "k" and "İ" to "i̇": ASCII folding does not.
  [
    "/api/v1/resources/%E2%84%AApis",
    ok(["api", "v1", "resources", "\u212apis"], "/api/v1/resources/%E2%84%AApis"),
    ok(["api", "v1", "resources", "\u212apis"], "/api/v1/resources/%E2%84%AApis"),
  ],
  ["/%C4%B0", ok(["\u0130"], "/%C4%B0"), ok(["\u0130"], "/%C4%B0")],
  // Trailing slash: matched as if absent, forwarded as sent.
  ["/api/v1/resources/", ok(["api", "v1", "resources"], "/api/v1/resources/"), ok(["api", "v1", "resources"], "/api/v1/resources/")],
  // Encoded separators, double encoding, controls, ';', raw '\': refused in both modes.
  ["/api/v1/admin/users/42%2F..%2F..%2F..%2F..%2F..%2Fhealth", /encoded '\/'/, /encoded '\/'/],
  ["/a%2fb", /encoded '\/'/, /encoded '\/'/],
  ["/a%5Cb", /encoded '\/' or '\\'/, /encoded '\/' or '\\'/],
  ["/a%5cb", /encoded/, /encoded/],
  ["/a\\b", /'\\'/, /'\\'/],
  ["/a%252Fb", /twice/, /twice/],
  ["/a%2561", /twice/, /twice/],
  // Found by test/e2e/path-differential.test.ts: normalizing %46 to "F" made a new "%2F".
  ["/a%252%46", /twice/, /twice/],
  ["/a%25%32%66", /twice/, /twice/],
  ["/a%00b", /control/, /control/],
  ["/a%0A", /control/, /control/],
  ["/a%7f", /control/, /control/],
  ["/a\u0001b", /control/, /control/],
  ["/api/v1/admin;x=1/users", /';'/, /';'/],
  ["/api;/v1", /';'/, /';'/],
  ["/a b", /percent-encoded/, /percent-encoded/],
  ["/caf\u00e9", /percent-encoded/, /percent-encoded/],
  ["/%zz", /not validly percent-encoded/, /not validly percent-encoded/],
  ["/a%2", /not validly percent-encoded/, /not validly percent-encoded/],
  ["/a/%E0%A4%A", /not validly percent-encoded/, /not validly percent-encoded/],
  ["/a/%FF", /UTF-8/, /UTF-8/],
  ["api", /start with/, /start with/],
  // Dots and empty segments: refused, or resolved and forwarded resolved.
  ["/public/../admin", /'\.' or '\.\.'/, ok(["admin"], "/admin")],
  ["/a/./b", /'\.' or '\.\.'/, ok(["a", "b"], "/a/b")],
  ["/../../etc", /'\.' or '\.\.'/, ok(["etc"], "/etc")],
  ["/a/b/..", /'\.' or '\.\.'/, ok(["a"], "/a/")],
  ["/a/b/.", /'\.' or '\.\.'/, ok(["a", "b"], "/a/b/")],
  ["/a/..", /'\.' or '\.\.'/, ok([], "/")],
  ["/public/%2e%2E/admin", /encoded '\.'/, ok(["admin"], "/admin")],
  ["/public/.%2e/admin", /encoded '\.'/, ok(["admin"], "/admin")],
  ["/a%2Eb", /encoded '\.'/, ok(["a.b"], "/a.b")],
  ["//api//v1/resources", /empty segment/, ok(["api", "v1", "resources"], "/api/v1/resources")],
  ["/api/v1//", /empty segment/, ok(["api", "v1"], "/api/v1/")],
  // Percent-encoded unreserved: matched decoded; forwarded raw (reject) or decoded (normalize, RFC 3986 §6.2.2.2).
  ["/api/v1/%72esources", ok(["api", "v1", "resources"], "/api/v1/%72esources"), ok(["api", "v1", "resources"], "/api/v1/resources")],
  ["/%7Euser/%2D%5F", ok(["~user", "-_"], "/%7Euser/%2D%5F"), ok(["~user", "-_"], "/~user/-_")],
  ["/API/%41", ok(["api", "a"], "/API/%41"), ok(["api", "a"], "/API/A")],
  // Other encodings: matched decoded; hex upper-cased when normalized (§6.2.2.1).
  ["/a%20b/r%c3%a9sum%C3%A9", ok(["a b", "résumé"], "/a%20b/r%c3%a9sum%C3%A9"), ok(["a b", "résumé"], "/a%20b/r%C3%A9sum%C3%A9")],
  ["/100%25", ok(["100%"], "/100%25"), ok(["100%"], "/100%25")],
  ["/a%3Bb", ok(["a;b"], "/a%3Bb"), ok(["a;b"], "/a%3Bb")],
];

function check(raw: string, mode: PathMode, want: Expect) {
  const got = judgePath(raw, mode);
  if (want instanceof RegExp) {
    expect(typeof got, `${mode} ${JSON.stringify(raw)}`).toBe("string");
    expect(got, `${mode} ${JSON.stringify(raw)}`).toMatch(want);
  } else expect(got, `${mode} ${JSON.stringify(raw)}`).toMatchObject(want);
}

describe("the path contract", () => {
  for (const [raw, reject, normalize] of TABLE) {
    it(`${JSON.stringify(raw)}`, () => {
      check(raw, "reject", reject);
      check(raw, "normalize", normalize);
    });
  }

  it("normalizes idempotently: a forwarded path is judged the same again, and is plain", () => {
    for (const [raw] of TABLE) {
      const once = judgePath(raw, "normalize");
      if (typeof once === "string") continue;
      expect(judgePath(once.forward, "normalize"), raw).toEqual(once);
      expect(judgePath(once.forward, "reject"), raw).toEqual(once);
    }
  });
});

describe("letter case and the route policy", () => {
  const policy = compilePolicy([
    { method: "GET", path: "/api/v1/resources/kpis", public: true },
    { method: "GET", path: "/api/v1/resources/**", scopes: ["api:read"] },
    { method: "GET", path: "/api/v1/Reports", scopes: ["reports:read"] },
  ]);
  const route = (raw: string) => {
    const judged = judgePath(raw, "reject");
    if (typeof judged === "string") throw new Error(judged);
    return routeRule(policy, "GET", judged);
  };

  it("keeps the segments as sent beside the folded ones, the same array when nothing was folded", () => {
    const lower = judgePath("/api/v1/x", "reject");
    expect(typeof lower !== "string" && lower.asSent === lower.segments).toBe(true);
    expect(judgePath("/API/v1/%41b", "reject")).toMatchObject({ segments: ["api", "v1", "ab"], asSent: ["API", "v1", "Ab"] });
  });

  it("refuses a path whose case picks another rule than its folded form (a case-sensitive origin would run the other one)", () => {
    // Folded, /KPIS is the public literal; as sent (Flask, case-sensitive) it is the api:read wildcard's <id>.
    expect(route("/api/v1/resources/KPIS")).toBe("case-ambiguous");
    // Folded it is the resources rule; as sent (a case-sensitive origin) no rule covers it.
    expect(route("/API/v1/resources/7")).toBe("case-ambiguous");
    // A rule written with capitals: the lower-case path is ambiguous, the path as written is not.
    expect(route("/api/v1/reports")).toBe("case-ambiguous");
    expect(route("/api/v1/Reports")).toMatchObject({ kind: "scopes", scopes: ["reports:read"] });
  });

  it("judges a path the same both ways when its case picks the same rule", () => {
    expect(route("/api/v1/resources/kpis")).toMatchObject({ kind: "public" });
    expect(route("/api/v1/resources/Item-7")).toMatchObject({ kind: "scopes", scopes: ["api:read"] });
    // The Kelvin sign is not "k": the wildcard's rule, as a case-sensitive or ASCII-folding origin routes it.
    expect(route("/api/v1/resources/%E2%84%AApis")).toMatchObject({ kind: "scopes", scopes: ["api:read"] });
  });
});
