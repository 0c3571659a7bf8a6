/**
 * Debian's Chromium driven by playwright-core (a downloaded browser is not available here), plus
 * what every console page is checked for: axe-core accessibility (no serious or critical
 * violations), no Content-Security-Policy violation, no uncaught error; and a screenshot under
 * test/e2e/artifacts/ (git-ignored) for people to look at.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";

export const CHROMIUM = process.env.KEYGATE_CHROMIUM ?? "/usr/bin/chromium";
export const ARTIFACTS = path.join(import.meta.dirname, "artifacts");
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

export interface PageWatch {
  /** Console messages about CSP refusals, and uncaught page errors. */
  problems: string[];
}

/** Collects CSP violations and uncaught errors of a page for the test to assert there are none. */
export function watchPage(page: Page): PageWatch {
  const watch: PageWatch = { problems: [] };
  page.on("console", (msg) => {
    const text = msg.text();
    if (/Content Security Policy|Refused to/i.test(text)) watch.problems.push(`CSP: ${text}`);
  });
  page.on("pageerror", (err) => watch.problems.push(`page error: ${err.message}`));
  return watch;
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/**
 * Runs axe-core in the page and saves a screenshot as artifacts/<name>.png. axe is evaluated
 * through the DevTools protocol, which the page's CSP does not govern (it allows no inline
 * script), so the page under test keeps its real policy.
 */
export async function checkPage(page: Page, name: string): Promise<AxeViolation[]> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, opts: object): Promise<{ violations: AxeResult[] }> } }).axe;
    interface AxeResult {
      id: string;
      impact: string | null;
      help: string;
      nodes: { target: string[] }[];
    }
    const result = await axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(" ")) }));
  });
  return violations.filter((v) => v.impact === "serious" || v.impact === "critical");
}
