import { describe, expect, it } from "vitest";
import { base64urlDecodeToString, base64urlEncode } from "../src/lib/base64url";
import { codeChallengeS256, newCodeVerifier, randomToken, VERIFIER_PATTERN } from "../src/lib/pkce";

describe("PKCE", () => {
  it("derives the S256 challenge of RFC 7636 Appendix B", async () => {
    expect(await codeChallengeS256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")).toBe("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  });

  it("makes fresh 43-character verifiers of unreserved characters", () => {
    const verifiers = new Set(Array.from({ length: 50 }, () => newCodeVerifier()));
    expect(verifiers.size).toBe(50);
    for (const v of verifiers) expect(v).toMatch(VERIFIER_PATTERN);
    expect([...verifiers][0]).toHaveLength(43);
  });

  it("refuses a verifier RFC 7636 does not allow", async () => {
    await expect(codeChallengeS256("too-short")).rejects.toThrow(/43-128/);
    await expect(codeChallengeS256(`${"a".repeat(43)}+`)).rejects.toThrow(/43-128/);
  });

  it("random tokens are URL-safe and not repeated", () => {
    const a = randomToken(16);
    expect(a).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(randomToken(16)).not.toBe(a);
  });

  it("base64url round-trips UTF-8 and refuses other alphabets", () => {
    const text = "tenant ✓ ünïcode";
    expect(base64urlDecodeToString(base64urlEncode(new TextEncoder().encode(text)))).toBe(text);
    expect(() => base64urlDecodeToString("a+b/")).toThrow(/base64url/);
  });
});
