/**
 * The control-character rule in its portable spelling (`\xHH` ranges) is exactly Unicode's Cc,
 * and the document carries it in that spelling (test/e2e/openapi-tools.test.ts compiles it in
 * Python's `re` too).
 */
import { describe, expect, it } from "vitest";
import { hasControlCharacters, NO_CONTROL_CHARACTERS, NO_CONTROL_CHARACTERS_PATTERN } from "../../src/lib/control-characters";

const CC = /\p{Cc}/u;

describe("the control-character rule", () => {
  it("refuses exactly the code points of category Cc, with and without the u flag", () => {
    const unicodeMode = new RegExp(NO_CONTROL_CHARACTERS_PATTERN, "u");
    const differ: string[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const text = `CI/CD ${String.fromCodePoint(cp)} Pipeline Key`;
      const expected = !CC.test(text);
      if (NO_CONTROL_CHARACTERS.test(text) !== expected || unicodeMode.test(text) !== expected) differ.push(cp.toString(16));
    }
    expect(differ).toEqual([]);
  });

  it("accepts the document's examples and the letters a literal reading of \\p{Cc} would refuse", () => {
    for (const text of ["CI/CD Pipeline Key", "https://hooks.example.com/keygate", "pCc{}\\", "Schlüssel für Ωmega 🔑", ""]) {
      expect(hasControlCharacters(text), text).toBe(false);
    }
    for (const text of ["tab\there", "new\nline", "nul\u0000", "del\u007f", "nel\u0085", "csi\u009b"]) {
      expect(hasControlCharacters(text), JSON.stringify(text)).toBe(true);
    }
  });

  it("uses only escapes that ECMA-262, Python re and RE2 all read", () => {
    // No \p{..} (Python re), no \uXXXX (RE2), no \x{..} (Python re, ECMA-262 without u).
    expect(NO_CONTROL_CHARACTERS_PATTERN).not.toMatch(/\\[pPu]|\\x\{/);
    expect(NO_CONTROL_CHARACTERS.source).toBe(NO_CONTROL_CHARACTERS_PATTERN);
  });
});
