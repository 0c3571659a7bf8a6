import { describe, expect, it } from "vitest";
import { judgePath, type PathMode } from "../../src/gateway/path-contract";

/** [raw path, reject mode's result, normalize mode's result]: segments + forwarded path, or the refusal's text. */
type Row = [string, Expect, Expect];
type Expect = { segments: string[]; forward: string } | RegExp;

const ok = (segments: string[], forward: string): Expect => ({ segments, forward });

// The README's and docs/security-model.md's path table, as data.
const TABLE: Row[] = [
  // Plain paths: judged and forwarded as sent, in both modes.
  ["/", ok([], "/"), ok([], "/")],
  ["/api/v1/resources", ok(["api", "v1", "resources"], "/api/v1/resources"), ok(["api", "v1", "resources"], "/api/v1/resources")],
  ["/a.b/...", ok(["a.b", "..."], "/a.b/..."), ok(["a.b", "..."], "/a.b/...")],
  ["/v1/x:y@z!$&'()*+,=", ok(["v1", "x:y@z!$&'()*+,="], "/v1/x:y@z!$&'()*+,="), ok(["v1", "x:y@z!$&'()*+,="], "/v1/x:y@z!$&'()*+,=")],
  ["/a|b/[c]", ok(["a|b", "[c]"], "/a|b/[c]"), ok(["a|b", "[c]"], "/a|b/[c]")],
  // Case: matched folded, forwarded as sent.
  ["/API/v1/Admin", ok(["api", "v1", "admin"], "/API/v1/Admin"), ok(["api", "v1", "admin"], "/API/v1/Admin")],
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
  } else expect(got, `${mode} ${JSON.stringify(raw)}`).toEqual(want);
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
