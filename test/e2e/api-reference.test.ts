/**
 * The API reference at /api/v1/docs, in Chromium against the real dev server: it renders the
 * deployment's OpenAPI document offline (every request the page makes is to keygate's own origin)
 * under the console's Content-Security-Policy, with no CSP violation and no console error, and
 * people find the create-key operation in it.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ARTIFACTS, launchBrowser, watchPage } from "./browser";
import { type Keygate, startKeygate } from "./harness";

let kg: Keygate;
let browser: Browser;

beforeAll(async () => {
  [kg, browser] = await Promise.all([startKeygate(), launchBrowser()]);
});

afterAll(async () => {
  await browser?.close();
  await kg?.stop();
});

describe("the API reference", () => {
  it("renders the document offline under the console's CSP and shows the create-key operation", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const watch = watchPage(page);
    page.on("console", (msg) => {
      if (msg.type() === "error") watch.problems.push(`console error: ${msg.text()}`);
    });
    // Offline: anything not on keygate's origin is refused, and listed.
    const origin = new URL(kg.url).origin;
    const elsewhere: string[] = [];
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (new URL(url).origin === origin) return route.continue();
      elsewhere.push(url);
      return route.abort();
    });

    const res = await page.goto(`${kg.url}/api/v1/docs`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()["content-security-policy"]).toMatch(/^default-src 'none'; script-src 'self'; style-src 'self';/);

    // The key-creation operation, by its summary and operationId, under its path.
    const create = page.locator("#operations-API_keys-createApiKey");
    await create.waitFor({ timeout: 30_000 });
    await expect.poll(() => create.textContent()).toContain("/api/v1/tenant/{tenant}/api-keys/create");
    expect(await create.textContent()).toContain("Create an API key");

    // Expanded, it shows the seed's request example.
    await create.locator(".opblock-summary").first().click();
    await create.getByText("CI/CD Pipeline Key").first().waitFor();

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, "api-reference.png") });
    expect(watch.problems).toEqual([]);
    expect(elsewhere).toEqual([]);
    await page.close();
  });

  it("is linked from the console", async () => {
    const page = await browser.newPage();
    // The sign-in page (sign-in is not configured here, so the console says so; the footer is there all the same).
    await page.goto(`${kg.url}/console/`);
    const link = page.getByRole("contentinfo").getByRole("link", { name: "API reference" });
    expect(await link.getAttribute("href")).toBe("/api/v1/docs");
    await link.click();
    await page.locator("#operations-API_keys-createApiKey").waitFor({ timeout: 30_000 });
    expect(page.url()).toBe(`${kg.url}/api/v1/docs`);
    await page.close();
  });
});
