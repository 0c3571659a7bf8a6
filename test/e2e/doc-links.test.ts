/** `npm run lint`'s documentation link check (scripts/check-doc-links.mjs): the repository's docs pass, broken links fail. */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const exec = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "..", "..");
const SCRIPT = path.join(ROOT, "scripts", "check-doc-links.mjs");
const dir = mkdtempSync(path.join(tmpdir(), "keygate-doc-links-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function check(...files: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [SCRIPT, ...files]);
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

describe("the documentation link check", () => {
  it("passes on README.md, docs/*.md and bench/README.md", async () => {
    const { code, out } = await check();
    expect(out).toMatch(/documentation links: \d+ links in \d+ files resolve/);
    expect(code).toBe(0);
  });

  it("resolves files, GitHub heading slugs (repeats numbered) and links that wrap lines; fails on the rest", async () => {
    mkdirSync(path.join(dir, "docs"), { recursive: true });
    writeFileSync(
      path.join(dir, "docs", "other.md"),
      "# Other\n\n## Revocation: immediate where issued, bounded `everywhere`\n\n## Token introspection (RFC 7662)\n\n## Alerts\n\n## Alerts\n",
    );
    const page = path.join(dir, "docs", "page.md");
    writeFileSync(
      page,
      [
        "# Page",
        "",
        "Good: [a](other.md), [b](other.md#revocation-immediate-where-issued-bounded-everywhere),",
        "[c](other.md#token-introspection-rfc-7662), [d](other.md#alerts-1), [e](#page), [f](https://example.com/x#y),",
        "[wrapped",
        "text](other.md#alerts), `[code](nowhere.md)`.",
        "",
        "```",
        "[fenced](nowhere.md)",
        "```",
        "",
        "Bad: [g](missing.md), [h](other.md#alerts-2),",
        "[i](#no-such-heading).",
        "",
        "[ref]: missing-ref.md",
      ].join("\n"),
    );
    const { code, out } = await check(page);
    expect(code).toBe(1);
    const problems = out.split("\n").filter((line) => line.includes("page.md:"));
    expect(problems).toHaveLength(4);
    expect(out).toContain("page.md:12: (missing.md) no such file");
    expect(out).toContain("page.md:12: (other.md#alerts-2) no heading for #alerts-2");
    expect(out).toContain("page.md:13: (#no-such-heading) no heading for #no-such-heading");
    expect(out).toContain("page.md:15: (missing-ref.md) no such file");
  });
});
