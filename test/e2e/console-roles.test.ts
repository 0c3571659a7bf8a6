/**
 * The console signed in as each role (issue 20), in Chromium against the real dev server and its
 * dev identity provider: a viewer sees keys, the least-privilege report and a key's scope usage but
 * no create, rotate, revoke or narrow control; an operator gets those but no webhooks; an admin and
 * a token without the roles claim see everything. An operator narrows a key from its page after a
 * preview of what changes.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestOrigin, type TestOrigin } from "../helpers/test-origin";
import { checkPage, launchBrowser, watchPage } from "./browser";
import { type Keygate, startKeygate } from "./harness";

const TENANT = "my-tenant";
/** Scope usage is recorded after the response (batched): how long the page may take to show it. */
const USAGE_VISIBLE_WITHIN_MS = 45_000;

let origin: TestOrigin;
let kg: Keygate;
let browser: Browser;
let keyId: string;

async function api(method: string, path: string, body?: unknown) {
  const token = await kg.userToken([TENANT]);
  const res = await fetch(`${kg.url}/api/v1/tenant/${TENANT}/${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  origin = await startTestOrigin();
  [kg, browser] = await Promise.all([startKeygate({ devSignIn: true, vars: { ORIGIN_URL: origin.url } }), launchBrowser()]);
  // A key holding a scope it will use and one it will not.
  const created = await api("POST", "api-keys/create", { name: "reader", scopes: ["api:read", "api:write"] });
  keyId = created.body.id as string;
  const res = await fetch(`${kg.url}/api/v1/resources/1`, { headers: { authorization: `Bearer ${created.body.api_key}` } });
  expect(res.status).toBe(200);
});

afterAll(async () => {
  await browser?.close();
  await kg?.stop();
  await origin?.close();
});

/** A new page signed in with the dev identity provider's button for `role` (undefined: no roles claim). */
async function signIn(role?: "viewer" | "operator" | "admin"): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${kg.url}/console`);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: role ? `With the ${role} role` : /^Sign in as user-123/ }).click();
  await page.getByRole("heading", { name: "Choose a tenant" }).waitFor();
  return page;
}

/** Waits until the keys table is shown and the roles are known (the role badge and the nav). */
async function keysPage(page: Page) {
  await page.goto(`${kg.url}/console/t/${TENANT}/keys`);
  await page.locator(`tr[data-key-id="${keyId}"]`).waitFor();
  await page.getByRole("link", { name: "Least privilege" }).waitFor();
  // The route table's roles (from the OpenAPI document) are known: what is hidden now stays hidden.
  await page.locator('main[data-roles="loaded"]').waitFor();
}

const CASES = [
  { role: "viewer", changes: false, webhooks: false },
  { role: "operator", changes: true, webhooks: false },
  { role: "admin", changes: true, webhooks: true },
  { role: undefined, changes: true, webhooks: true },
] as const;

describe("console: what each role sees", () => {
  for (const { role, changes, webhooks } of CASES) {
    it(`${role ?? "a token without the roles claim"}: ${changes ? "create, rotate and revoke" : "no controls that change keys"}${webhooks ? ", webhooks" : ""}`, async () => {
      const page = await signIn(role);
      const watch = watchPage(page);
      await keysPage(page);
      await expect.poll(() => page.locator(".role-badge").textContent()).toBe(role ?? "admin");
      expect(await page.getByRole("button", { name: "Create key" }).count()).toBe(changes ? 1 : 0);
      expect(await page.getByRole("button", { name: /^Rotate / }).count()).toBe(changes ? 1 : 0);
      expect(await page.getByRole("button", { name: /^Revoke / }).count()).toBe(changes ? 1 : 0);
      expect(await page.getByRole("link", { name: "Webhooks" }).count()).toBe(webhooks ? 1 : 0);

      await page.goto(`${kg.url}/console/t/${TENANT}/keys/${keyId}`);
      await page.getByRole("heading", { name: "Scope usage" }).waitFor();
      await page.locator("tr[data-scope]").first().waitFor();
      await page.locator('main[data-roles="loaded"]').waitFor();
      expect(await page.getByRole("button", { name: "Revoke" }).count()).toBe(changes ? 1 : 0);
      expect(await page.getByRole("button", { name: "Narrow" }).count()).toBe(changes ? 1 : 0);
      expect(await checkPage(page, `roles-key-${role ?? "no-claim"}`)).toEqual([]);
      expect(watch.problems).toEqual([]);
      await page.close();
    });
  }

  it("the report shows the window and the unexercised scope; an operator narrows the key after a preview", async () => {
    const page = await signIn("operator");
    const watch = watchPage(page);
    // The badge on the keys table once the gateway request's scope is rolled up.
    const deadline = Date.now() + USAGE_VISIBLE_WITHIN_MS;
    await keysPage(page);
    while ((await page.locator(`tr[data-key-id="${keyId}"] .badge.warn`).count()) === 0 && Date.now() < deadline) {
      await page.waitForTimeout(1000);
      await keysPage(page);
    }
    expect(await page.locator(`tr[data-key-id="${keyId}"] .badge.warn`).textContent()).toBe("1 unexercised");

    await page.getByRole("link", { name: "Least privilege" }).click();
    await page.getByRole("heading", { name: /^Least privilege/ }).waitFor();
    expect(await page.locator("[data-window-days]").getAttribute("data-window-days")).toBe("30");
    expect(await page.locator(`tr[data-key-id="${keyId}"] .chip.warn`).textContent()).toBe("api:write");
    expect(await checkPage(page, "roles-report")).toEqual([]);

    await page.goto(`${kg.url}/console/t/${TENANT}/keys/${keyId}`);
    await page.getByRole("button", { name: "Narrow" }).click();
    const dialog = page.getByRole("dialog", { name: "Narrow “reader”?" });
    expect(await dialog.locator('[data-preview="kept"]').textContent()).toBe("api:read");
    expect(await dialog.locator('[data-preview="removed"]').textContent()).toBe("api:write");
    expect(await checkPage(page, "roles-narrow-preview")).toEqual([]);
    await dialog.getByRole("button", { name: "Narrow key" }).click();
    await page.getByRole("dialog", { name: "Your narrowed API key" }).waitFor();
    const old = await api("GET", `api-keys/${keyId}`);
    const replacement = await api("GET", `api-keys/${old.body.replaced_by as string}`);
    expect(replacement.body.scopes).toEqual(["api:read"]);
    expect(watch.problems).toEqual([]);
    await page.close();
  }, 120_000);
});
