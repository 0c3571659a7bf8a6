/**
 * The console end to end in Chromium against the real dev server: sign in with PKCE at a real
 * OpenID provider (oidc-provider on loopback), create a key and read it from the page once, call
 * the gateway with it, revoke it from the page and see the gateway refuse it; rotate another.
 * Every page is checked with axe-core and screenshotted (test/e2e/artifacts/), the whole session
 * must cause no CSP violation, and every console response carries the security headers.
 */
import type { Browser, Page, Request } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestOrigin, type TestOrigin } from "../helpers/test-origin";
import { checkPage, launchBrowser, type PageWatch, watchPage } from "./browser";
import { freePort, type Keygate, startKeygate } from "./harness";
import { type OidcTestProvider, startOidcTestProvider } from "./oidc-test-provider";

const CLIENT_ID = "keygate-console-e2e";
const RESOURCE = "https://keygate.test/api";
const RESOURCE_SCOPE = "keys";
const TENANT = "e2e-tenant";

let origin: TestOrigin;
let op: OidcTestProvider;
let kg: Keygate;
let browser: Browser;

beforeAll(async () => {
  origin = await startTestOrigin();
  // The provider's port is fixed first: keygate's vars name it, and its client names keygate's origin.
  const opPort = await freePort();
  const issuer = `http://127.0.0.1:${opPort}`;
  [kg, browser] = await Promise.all([
    startKeygate({
      inlineUserTokenJwks: false,
      vars: {
        ORIGIN_URL: origin.url,
        REVOCATION_CACHE_TTL_SECONDS: "0",
        CONSOLE_OIDC_ISSUER: issuer,
        CONSOLE_OIDC_CLIENT_ID: CLIENT_ID,
        CONSOLE_OIDC_SCOPE: `openid ${RESOURCE_SCOPE}`,
        CONSOLE_OIDC_RESOURCE: RESOURCE,
        USER_TOKEN_JWKS_URL: `${issuer}/jwks`,
        USER_TOKEN_ISSUER: issuer,
        USER_TOKEN_AUDIENCE: RESOURCE,
      },
    }),
    launchBrowser(),
  ]);
  op = await startOidcTestProvider({
    port: opPort,
    clientId: CLIENT_ID,
    consoleOrigin: kg.url,
    resource: RESOURCE,
    scope: RESOURCE_SCOPE,
    tenants: [TENANT, "other-tenant"],
  });
});

afterAll(async () => {
  await browser?.close();
  await kg?.stop();
  await op?.stop();
  await origin?.close();
});

async function gateway(apiKey: string) {
  const res = await fetch(`${kg.url}/api/v1/resources/42`, { headers: { authorization: `Bearer ${apiKey}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { headers?: Record<string, string> } };
}

async function expectAccessible(page: Page, name: string) {
  expect(await checkPage(page, name), `axe on ${name}`).toEqual([]);
}

/** Fills the "Create an API key" dialog and returns the key the page shows once. */
async function createKey(page: Page, name: string, scopes: string[], expiresInDays: string): Promise<string> {
  await page.getByRole("button", { name: "Create key" }).first().click();
  const dialog = page.getByRole("dialog", { name: "Create an API key" });
  await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe(await dialog.getByLabel("Name").getAttribute("id"));
  await dialog.getByLabel("Name").fill(name);
  for (const scope of scopes) await dialog.getByRole("checkbox", { name: new RegExp(`^${scope} `) }).check();
  await dialog.getByLabel("Expires in (days)").fill(expiresInDays);
  await dialog.getByRole("button", { name: "Create key" }).click();
  const shown = page.getByRole("dialog", { name: "Your new API key" });
  await expect.poll(() => shown.getByText("This is the only time the API key is shown.").isVisible()).toBe(true);
  return shown.locator("textarea[data-secret]").inputValue();
}

describe("console sign-in and key lifecycle", () => {
  it("signs in with PKCE, creates a key shown once, the gateway takes it, revokes it, the gateway refuses it", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const watch: PageWatch = watchPage(page);
    const requests: Request[] = [];
    page.on("request", (r) => requests.push(r));

    await page.goto(`${kg.url}/console`);
    await page.getByRole("heading", { name: "keygate console" }).waitFor();
    await expectAccessible(page, "sign-in");

    // The provider's own (development) login and consent pages.
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL((url) => url.origin === op.issuer);
    await page.locator("input[name=login]").fill("alice");
    await page.locator("input[name=password]").fill("any");
    await page.locator("button[type=submit]").click();
    await page.getByRole("button", { name: /continue/i }).click();

    await page.getByRole("heading", { name: "Choose a tenant" }).waitFor();
    // Nothing of the sign-in stays in the address bar; tokens only in this tab's sessionStorage.
    expect(page.url()).toBe(`${kg.url}/console/`);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    expect(await page.evaluate(() => Object.keys(sessionStorage))).toEqual(["keygate.console.session"]);
    const authorize = new URL(requests.find((r) => r.url().startsWith(`${op.issuer}/auth`))!.url());
    expect(authorize.searchParams.get("code_challenge_method")).toBe("S256");
    expect(authorize.searchParams.get("redirect_uri")).toBe(`${kg.url}/console/callback`);
    expect(authorize.searchParams.get("resource")).toBe(RESOURCE);
    const tokenRequest = requests.find((r) => r.url().startsWith(`${op.issuer}/token`))!;
    expect(new URLSearchParams(tokenRequest.postData() ?? "").get("code_verifier")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    for (const r of requests) expect(r.url()).not.toContain("code_verifier");
    await expectAccessible(page, "tenants");

    await page.getByRole("link", { name: new RegExp(TENANT) }).click();
    await page.getByText("This tenant has no API keys yet.").waitFor();
    await expectAccessible(page, "keys-empty");

    const apiKey = await createKey(page, "CI/CD Pipeline Key", ["api:read", "api:write", "deploy:production"], "90");
    expect(apiKey.split(".")).toHaveLength(3);
    await expectAccessible(page, "create-key");
    await page.getByRole("button", { name: "Done, I have stored the key" }).click();
    // Shown once: gone from the page and never stored by the console.
    await page.getByRole("link", { name: "CI/CD Pipeline Key" }).waitFor();
    expect(await page.content()).not.toContain(apiKey);
    expect(await page.evaluate(() => JSON.stringify({ ...sessionStorage, ...localStorage }))).not.toContain(apiKey);

    const accepted = await gateway(apiKey);
    expect(accepted.status).toBe(200);
    expect(accepted.body.headers?.["x-keygate-tenant"]).toBe(TENANT);

    const nightly = await createKey(page, "Nightly backup", ["api:read"], "0");
    await page.getByRole("button", { name: "Done, I have stored the key" }).click();
    await page.getByRole("link", { name: "Nightly backup" }).waitFor();
    await page.getByRole("button", { name: "Last used" }).click();
    await expectAccessible(page, "keys");

    // Revoke from the table, with a reason.
    await page.getByRole("button", { name: "Revoke CI/CD Pipeline Key" }).click();
    const revoke = page.getByRole("dialog", { name: "Revoke “CI/CD Pipeline Key”?" });
    await revoke.getByLabel(/Reason/).fill("rotated out by the e2e test");
    await expectAccessible(page, "revoke-key");
    await revoke.getByRole("button", { name: "Revoke key" }).click();
    const row = page.locator("tr", { has: page.getByRole("link", { name: "CI/CD Pipeline Key" }) });
    await expect.poll(() => row.getByText("Revoked").isVisible()).toBe(true);

    const refused = await gateway(apiKey);
    expect(refused).toMatchObject({ status: 401, body: { error: "invalid_token", error_description: "API key has been revoked" } });

    // The key's page: its audit trail has the create and the revoke.
    await page.getByRole("link", { name: "CI/CD Pipeline Key" }).click();
    await page.getByRole("heading", { name: "Audit trail" }).waitFor();
    const audit = page.locator("table.audit tbody tr");
    await expect.poll(() => audit.evaluateAll((rows) => rows.map((r) => r.getAttribute("data-action")))).toEqual(["revoke", "create"]);
    await expectAccessible(page, "key");

    // Rotate the other key with a grace period: the replacement is shown once, and both work.
    await page.getByRole("link", { name: /All keys of/ }).click();
    await page.getByRole("button", { name: "Rotate Nightly backup" }).click();
    const rotate = page.getByRole("dialog", { name: "Rotate “Nightly backup”?" });
    await rotate.getByLabel("Old key keeps working for").selectOption({ label: "1 hour" });
    await rotate.getByRole("button", { name: "Rotate key" }).click();
    const replacement = await page.getByRole("dialog", { name: "Your replacement API key" }).locator("textarea[data-secret]").inputValue();
    expect(replacement).not.toBe(nightly);
    await page.getByRole("button", { name: "Done, I have stored the key" }).click();
    expect((await gateway(replacement)).status).toBe(200);
    expect((await gateway(nightly)).status).toBe(200);
    // In its grace period the old key is still active, as `?status=` says (src/vocab/key-status.mjs):
    // the Rotated filter does not list it yet, the Active one does, badged as in its grace period.
    await page.getByLabel("Show").selectOption("rotated");
    await page.getByText("No key matches these filters.").waitFor();
    await page.getByLabel("Show").selectOption("active");
    await expect.poll(() => page.locator("tbody tr", { hasText: "Rotated, in grace period" }).count()).toBe(1);

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    expect(watch.problems).toEqual([]);
    await page.close();
  });

  it("a callback that is not this tab's sign-in is refused and leaves nothing behind", async () => {
    const page = await browser.newPage();
    const watch = watchPage(page);
    await page.goto(`${kg.url}/console/callback?code=stolen-code&state=forged`);
    await page.getByText("No sign-in was started in this tab").waitFor();
    expect(page.url()).toBe(`${kg.url}/console/`);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    expect(watch.problems).toEqual([]);
    await page.close();
  });
});

describe("console security headers", () => {
  it("every console response carries a strict CSP and the other security headers", async () => {
    const html = await (await fetch(`${kg.url}/console/`)).text();
    const assets = [...html.matchAll(/(?:src|href)="(\/console\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.some((a) => a.endsWith(".js")) && assets.some((a) => a.endsWith(".css"))).toBe(true);
    const paths = ["/console", "/console/", "/console/t/x/keys/key-1", "/console/config.json", "/console/nope.js", ...assets];
    for (const path of paths) {
      for (const method of ["GET", "POST"]) {
        const res = await fetch(`${kg.url}${path}`, { method, redirect: "manual" });
        const csp = res.headers.get("content-security-policy") ?? "";
        expect(csp, `${method} ${path}`).toMatch(/^default-src 'none'; script-src 'self'; style-src 'self';/);
        expect(csp).toContain("frame-ancestors 'none'");
        expect(csp).not.toMatch(/unsafe|https?:\/\/(?!127\.0\.0\.1)/);
        expect(res.headers.get("x-content-type-options")).toBe("nosniff");
        expect(res.headers.get("referrer-policy")).toBe("no-referrer");
        expect(res.headers.get("x-frame-options")).toBe("DENY");
      }
    }
    // The page may connect to keygate and to the identity provider's token endpoint, nothing else.
    const page = await fetch(`${kg.url}/console/t/x/keys`);
    expect(page.headers.get("content-security-policy")).toContain(`connect-src 'self' ${op.issuer};`);
  });
});

/** Signs in through the provider's development pages and opens the tenant's keys (issue 19's test). */
async function signedIn(page: Page): Promise<void> {
  await page.goto(`${kg.url}/console`);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((url) => url.origin === op.issuer);
  await page.locator("input[name=login]").fill("bob");
  await page.locator("input[name=password]").fill("any");
  await page.locator("button[type=submit]").click();
  await page.getByRole("button", { name: /continue/i }).click();
  await page.getByRole("heading", { name: "Choose a tenant" }).waitFor();
  await page.getByRole("link", { name: new RegExp(TENANT) }).click();
  await page.getByRole("button", { name: "Create key" }).first().waitFor();
}

describe("console: limits and quotas (issue 19)", () => {
  it("creates a key with a rate limit and a quota, shows what remains and the next reset, and edits the quota", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const watch = watchPage(page);
    await signedIn(page);

    await page.getByRole("button", { name: "Create key" }).first().click();
    const dialog = page.getByRole("dialog", { name: "Create an API key" });
    await dialog.getByLabel("Name").fill("Metered partner");
    await dialog.getByRole("checkbox", { name: /^api:read / }).check();
    await dialog.getByLabel("Rate limits").fill("burst=100/60s");
    await dialog.getByLabel("Quota (calls)").fill("2");
    await dialog.getByLabel("Quota period").selectOption("day");
    await expectAccessible(page, "create-key-limits");
    await dialog.getByRole("button", { name: "Create key" }).click();
    const apiKey = await page.getByRole("dialog", { name: "Your new API key" }).locator("textarea[data-secret]").inputValue();
    await page.getByRole("button", { name: "Done, I have stored the key" }).click();

    expect([(await gateway(apiKey)).status, (await gateway(apiKey)).status]).toEqual([200, 200]);
    expect(await gateway(apiKey)).toMatchObject({ status: 429, body: { error: "quota_exceeded" } });

    await page.getByRole("link", { name: "Metered partner" }).click();
    const quota = page.locator("dd[data-quota]");
    await expect.poll(() => quota.textContent()).toMatch(/^2 calls per day · 0 left · resets /);
    await expect.poll(() => page.locator("dl.details").textContent()).toMatch(/100 per 1 minute|100 per 60 s|100 per/);
    await expectAccessible(page, "key-quota");

    await page.getByRole("button", { name: "Edit" }).click();
    const edit = page.getByRole("dialog", { name: "Edit “Metered partner”" });
    expect(await edit.getByLabel("Quota (calls)").inputValue()).toBe("2");
    expect(await edit.getByLabel("Rate limits").inputValue()).toBe("burst=100/1m");
    await edit.getByLabel("Quota (calls)").fill("5");
    await expectAccessible(page, "edit-key");
    await edit.getByRole("button", { name: "Save" }).click();
    await expect.poll(() => quota.textContent()).toMatch(/^5 calls per day · 3 left/);
    expect((await gateway(apiKey)).status).toBe(200);

    // A limit group made on its page; the key joins it with the Edit dialog; the group shows the key.
    await page.getByRole("link", { name: "Limit groups" }).click();
    await page.getByRole("button", { name: "Create group" }).first().click();
    const create = page.getByRole("dialog", { name: "Create a limit group" });
    await create.getByLabel("Name").fill("Partner budget");
    await create.getByLabel("Quota (calls)").fill("100");
    await expectAccessible(page, "create-limit-group");
    await create.getByRole("button", { name: "Create group" }).click();
    await page.getByRole("button", { name: "Partner budget" }).click();
    await expect.poll(() => page.locator("[data-group-quota]").textContent()).toMatch(/^100 calls per month · 100 left · resets /);
    await expectAccessible(page, "limit-groups");
    await page.getByRole("link", { name: "Keys" }).click();
    await page.getByRole("link", { name: "Metered partner" }).click();
    await page.getByRole("button", { name: "Edit" }).click();
    const join = page.getByRole("dialog", { name: "Edit “Metered partner”" });
    await join.getByLabel("Limit group").selectOption({ index: 1 });
    await join.getByRole("button", { name: "Save" }).click();
    await expect.poll(() => page.locator("dl.details").textContent()).toMatch(/Limit groupgrp-/);
    expect((await gateway(apiKey)).status).toBe(200);
    await page.getByRole("link", { name: "Limit groups" }).click();
    await page.getByRole("button", { name: "Partner budget" }).click();
    await page.locator("[data-group]").getByRole("link", { name: "Metered partner" }).waitFor();
    expect(watch.problems).toEqual([]);
    await page.close();
  });
});
