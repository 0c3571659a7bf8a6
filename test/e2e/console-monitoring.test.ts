/**
 * The console's monitoring pages against the usage, alerts and webhooks API (issue 9): a key's
 * usage chart and client IPs after real gateway traffic, an alert acknowledged, a webhook created
 * (secret shown once), tested, its deliveries listed, deleted.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestOrigin, type TestOrigin } from "../helpers/test-origin";
import { checkPage, launchBrowser, watchPage } from "./browser";
import { type Keygate, startKeygate } from "./harness";

const TENANT = "my-tenant";
/** Usage is counted after the response (batched): how long the page may take to show it. */
const USAGE_VISIBLE_WITHIN_MS = 45_000;

describe("console monitoring pages", () => {
  let origin: TestOrigin;
  let kg: Keygate;
  let browser: Browser;
  let page: Page;
  let token: string;

  async function api(method: string, path: string, body?: unknown) {
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
    token = await kg.userToken([TENANT]);
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${kg.url}/console`);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("button", { name: /^Sign in as user-123/ }).click();
    await page.getByRole("heading", { name: "Choose a tenant" }).waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await kg?.stop();
    await origin?.close();
  });

  it("a key's page charts its requests by outcome and lists the client IPs", async () => {
    const watch = watchPage(page);
    const key = await api("POST", "api-keys/create", { name: "charted", scopes: ["api:read"] });
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${kg.url}/api/v1/resources/1`, { headers: { authorization: `Bearer ${key.body.api_key}` } });
      expect(res.status).toBe(200);
    }
    await page.goto(`${kg.url}/console/t/${TENANT}/keys/${key.body.id}`);
    const deadline = Date.now() + USAGE_VISIBLE_WITHIN_MS;
    while ((await page.locator("[data-usage-total]").count()) === 0 && Date.now() < deadline) {
      await page.waitForTimeout(1000);
      await page.getByRole("button", { name: "Refresh" }).first().click();
    }
    expect(await page.locator("[data-usage-total]").textContent()).toBe("3");
    expect(await page.locator('tr[data-outcome="accepted"] td').textContent()).toBe("3");
    expect(await page.locator(".chart canvas").count()).toBeGreaterThan(0);
    await page.reload();
    await page.getByRole("heading", { name: "Client IP addresses" }).waitFor();
    await expect.poll(() => page.getByRole("rowheader", { name: "127.0.0.1" }).count()).toBe(1);
    expect(await checkPage(page, "key-usage")).toEqual([]);
    expect(watch.problems).toEqual([]);
  });

  it("alerts are listed and acknowledged", async () => {
    const settings = await api("PUT", "alert-settings", { volume_per_hour: 1 });
    expect(settings.status).toBe(200);
    const key = await api("POST", "api-keys/create", { name: "noisy", scopes: ["api:read"] });
    for (let i = 0; i < 3; i++) await fetch(`${kg.url}/api/v1/resources/1`, { headers: { authorization: `Bearer ${key.body.api_key}` } });
    await page.goto(`${kg.url}/console/t/${TENANT}/alerts`);
    const ack = page.getByRole("button", { name: /^Acknowledge/ }).first();
    const deadline = Date.now() + USAGE_VISIBLE_WITHIN_MS;
    while ((await ack.count()) === 0 && Date.now() < deadline) {
      await page.waitForTimeout(1000);
      await page.reload();
    }
    expect(await checkPage(page, "alerts")).toEqual([]);
    const item = page.locator("li.alert-item").first();
    const id = await item.getAttribute("data-alert-id");
    await ack.click();
    await page.getByLabel("Unacknowledged only").uncheck();
    await expect.poll(() => page.locator(`li[data-alert-id="${id}"]`).getByText("Acknowledged").count()).toBe(1);
    const stored = await api("GET", "alerts");
    expect(
      (stored.body as unknown as { id: string; acknowledged_at: number | null }[]).find((a) => a.id === id)?.acknowledged_at,
    ).not.toBeNull();
  });

  it("a webhook is created with its secret shown once, tested, its deliveries listed, and deleted", async () => {
    await page.goto(`${kg.url}/console/t/${TENANT}/webhooks`);
    await page.getByText("No webhooks yet.").waitFor();
    await page.getByRole("button", { name: "Add webhook" }).click();
    const dialog = page.getByRole("dialog", { name: "Add a webhook" });
    await dialog.getByLabel("URL (https)").fill(`${origin.url}/webhook`);
    await dialog.getByRole("checkbox", { name: "key.created" }).check();
    await dialog.getByRole("button", { name: "Add webhook" }).click();
    const secret = await page.getByRole("dialog", { name: "Webhook created" }).locator("textarea[data-secret]").inputValue();
    expect(secret).toMatch(/^whsec_/);
    await page.getByRole("button", { name: "Done, I have stored the secret" }).click();
    expect(await page.content()).not.toContain(secret);

    await page.getByRole("button", { name: "Send test event" }).click();
    await page.getByText(/Test event evt-\S+ queued\./).waitFor();
    await page.getByRole("button", { name: "Show deliveries" }).click();
    const deadline = Date.now() + USAGE_VISIBLE_WITHIN_MS;
    while ((await page.locator("tr[data-delivery-status]").count()) === 0 && Date.now() < deadline) {
      await page.waitForTimeout(1000);
      await page.getByRole("button", { name: "Refresh" }).click();
    }
    expect(await page.locator("tr[data-delivery-status]").count()).toBeGreaterThan(0);
    expect(await checkPage(page, "webhooks")).toEqual([]);

    await page.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("dialog", { name: "Delete this webhook?" }).getByRole("button", { name: "Delete webhook" }).click();
    await page.getByText("No webhooks yet.").waitFor();
    expect((await api("GET", "webhooks")).body).toEqual([]);
  });
});
