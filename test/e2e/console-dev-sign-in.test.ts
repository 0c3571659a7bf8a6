/**
 * `npm run dev`'s one-click sign-in: scripts/dev.mjs starts the dev identity provider next to
 * wrangler dev, and a newcomer opening /console signs in with one click, with no setup, and the
 * management API accepts the token it issued (the same one `npm run token` would print).
 */
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkPage, launchBrowser, watchPage } from "./browser";
import { type Keygate, startKeygate } from "./harness";

let kg: Keygate;
let browser: Browser;

beforeAll(async () => {
  [kg, browser] = await Promise.all([startKeygate({ devSignIn: true }), launchBrowser()]);
});

afterAll(async () => {
  await browser?.close();
  await kg?.stop();
});

describe("dev sign-in", () => {
  it("signs in with one click and manages keys without any setup", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const watch = watchPage(page);
    // localhost, as docs/console.md says (the dev server listens on 127.0.0.1 here).
    await page.goto(`${kg.url.replace("127.0.0.1", "localhost")}/console`);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("button", { name: "Sign in as user-123 (tenants: my-tenant, demo-tenant)" }).click();
    await page.getByRole("heading", { name: "Choose a tenant" }).waitFor();
    expect(page.url()).toMatch(/^http:\/\/localhost:\d+\/console\/$/);

    await page.getByRole("link", { name: /my-tenant/ }).click();
    await page.getByText("This tenant has no API keys yet.").waitFor();

    // A key made with `npm run token`'s token shows up for the console's user: the same identity.
    const token = await kg.userToken(["my-tenant"], "user-123");
    const created = await fetch(`${kg.url}/api/v1/tenant/my-tenant/api-keys/create`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "made with npm run token", scopes: ["api:read"] }),
    });
    expect(created.status).toBe(201);
    await page.reload();
    await page.getByRole("link", { name: "made with npm run token" }).waitFor();
    expect(await checkPage(page, "dev-keys")).toEqual([]);

    // Alerts and webhooks render (with the API's own error until that API exists) and stay accessible.
    for (const section of ["Alerts", "Webhooks"]) {
      await page.getByRole("link", { name: section }).click();
      await page.getByRole("heading", { name: new RegExp(`^${section}`) }).waitFor();
      await page.locator(".error, .empty, ul.alerts, ul.webhooks").first().waitFor();
      expect(await checkPage(page, `dev-${section.toLowerCase()}`)).toEqual([]);
    }
    await page.getByRole("button", { name: "Add webhook" }).click();
    expect(await checkPage(page, "dev-add-webhook")).toEqual([]);
    await page.keyboard.press("Escape");
    await page.getByRole("link", { name: "Keys" }).click();

    // The other tenant of the dev user is one pick away.
    await page.getByLabel("Tenant").selectOption("demo-tenant");
    await page.getByText("This tenant has no API keys yet.").waitFor();
    expect(watch.problems).toEqual([]);
    await page.close();
  });
});
