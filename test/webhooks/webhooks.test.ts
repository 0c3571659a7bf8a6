/**
 * Webhooks with the real local queue and a real HTTP receiver on 127.0.0.1 (the test origin's
 * /hooks/...): registration rules, signed deliveries, retries after failures, every attempt
 * visible, the test event, key lifecycle events, and deliveries a lost message stranded.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { deliveryConfig } from "../../src/webhooks/config";
import { attemptDelivery, retryDelaySeconds } from "../../src/webhooks/deliver";
import { eventually } from "../helpers/eventually";
import worker from "../helpers/limited-entry";
import { call, createKey, expectError, freshTenant, userToken } from "../helpers/worker";

interface Received {
  status: number;
  headers: Record<string, string>;
  body: string;
}

async function received(name: string): Promise<Received[]> {
  return (await fetch(`${env.ORIGIN_URL}/__hooks/${name}`)).json();
}

async function register(tenant: string, events: string[], options: { fail?: number } = {}) {
  const name = `${tenant}-${crypto.randomUUID().slice(0, 8)}`;
  const url = `${env.ORIGIN_URL}/hooks/${name}${options.fail ? `?fail=${options.fail}` : ""}`;
  const res = await call("POST", `/api/v1/tenant/${tenant}/webhooks`, {
    token: await userToken({ tenants: [tenant] }),
    body: { url, events },
  });
  expect(res.status).toBe(201);
  return { name, ...((await res.json()) as { id: string; secret: string; url: string; events: string[] }) };
}

/** An independent check of Keygate-Signature: HMAC-SHA256 over `t.body`, keyed with the secret as shown. */
async function verify(secret: string, header: string, body: string): Promise<{ ok: boolean; t: number }> {
  const parts = Object.fromEntries(header.split(",").map((p) => p.split("=") as [string, string]));
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  const mac = Uint8Array.from((parts.v1 ?? "").match(/../g) ?? [], (h) => Number.parseInt(h, 16));
  const ok = await crypto.subtle.verify("HMAC", key, mac, new TextEncoder().encode(`${parts.t}.${body}`));
  return { ok, t: Number(parts.t) };
}

describe("registering webhooks", () => {
  it("shows the secret once, lists without it, and refuses URLs that are not https or point inside", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const hook = await register(tenant, ["volume", "key.created"]);
    expect(hook.secret).toMatch(/^whsec_[\w-]{43}$/);
    const list = (await (await call("GET", `/api/v1/tenant/${tenant}/webhooks`, { token })).json()) as Record<string, unknown>[];
    expect(list).toEqual([{ id: hook.id, url: hook.url, events: ["volume", "key.created"], created_at: expect.any(Number) }]);
    const refuse = async (url: string, message: RegExp, status = 400, error = "invalid_request") => {
      const res = await call("POST", `/api/v1/tenant/${tenant}/webhooks`, { token, body: { url, events: ["volume"] } });
      const err = await expectError(res, status, error);
      expect(err.error_description, url).toMatch(message);
    };
    await refuse("http://hooks.example.com/x", /^url must be https/);
    await refuse("https://10.1.2.3/x", /private, loopback or reserved address \(10\.1\.2\.3\)/);
    await refuse("https://[fd00::1]/x", /private, loopback or reserved address/);
    await refuse("https://169.254.169.254/latest/meta-data", /private, loopback or reserved/);
    await refuse("https://db.private.test/x", /resolves to a private, loopback or reserved address \(10\.1\.2\.3\)/);
    await refuse("https://gone.nxdomain.test/x", /does not resolve/);
    await refuse("https://intranet/x", /internal host name/);
    await refuse("https://user:pw@hooks.example.com/x", /must not carry credentials/);
    await refuse("not a url", /must be an absolute URL/);
    const badEvents = await call("POST", `/api/v1/tenant/${tenant}/webhooks`, {
      token,
      body: { url: "https://hooks.example.com/x", events: ["everything"] },
    });
    expect((await expectError(badEvents, 400, "invalid_request")).error_description).toMatch(/^events must list event types from: volume/);
    // A public name that resolves to public addresses is fine.
    expect(
      (await call("POST", `/api/v1/tenant/${tenant}/webhooks`, { token, body: { url: "https://hooks.example.com/x", events: ["volume"] } }))
        .status,
    ).toBe(201);
    // Loopback http is allowed only by WEBHOOK_ALLOW_INSECURE_LOOPBACK (npm run dev sets it).
    const strict = await call("POST", `/api/v1/tenant/${tenant}/webhooks`, {
      token,
      body: { url: `${env.ORIGIN_URL}/hooks/x`, events: ["volume"] },
      env: { WEBHOOK_ALLOW_INSECURE_LOOPBACK: "false" },
    });
    await expectError(strict, 400, "invalid_request");
  });

  it("answers 503 when a host cannot be resolved right now", async () => {
    const tenant = freshTenant();
    const res = await call("POST", `/api/v1/tenant/${tenant}/webhooks`, {
      token: await userToken({ tenants: [tenant] }),
      body: { url: "https://hooks.example.com/x", events: ["volume"] },
      env: { WEBHOOK_DNS_RESOLVER: "http://127.0.0.1:9/dns-query" },
    });
    await expectError(res, 503, "temporarily_unavailable");
  });

  it("isolates tenants, deletes, and caps the number per tenant", async () => {
    const tenant = freshTenant();
    const other = freshTenant();
    const hook = await register(tenant, ["volume"]);
    const otherToken = await userToken({ tenants: [other] });
    await expectError(await call("DELETE", `/api/v1/tenant/${other}/webhooks/${hook.id}`, { token: otherToken }), 404, "not_found");
    await expectError(await call("POST", `/api/v1/tenant/${other}/webhooks/${hook.id}/test`, { token: otherToken }), 404, "not_found");
    await expectError(await call("GET", `/api/v1/tenant/${other}/webhooks/${hook.id}/deliveries`, { token: otherToken }), 404, "not_found");
    expect(await (await call("GET", `/api/v1/tenant/${other}/webhooks`, { token: otherToken })).json()).toEqual([]);
    const token = await userToken({ tenants: [tenant] });
    expect((await call("DELETE", `/api/v1/tenant/${tenant}/webhooks/${hook.id}`, { token })).status).toBe(200);
    await expectError(await call("DELETE", `/api/v1/tenant/${tenant}/webhooks/${hook.id}`, { token }), 404, "not_found");
    for (let i = 0; i < 10; i++) await register(tenant, ["volume"]);
    const eleventh = await call("POST", `/api/v1/tenant/${tenant}/webhooks`, {
      token,
      body: { url: `${env.ORIGIN_URL}/hooks/x`, events: ["volume"] },
    });
    await expectError(eleventh, 409, "conflict");
  });
});

describe("deliveries", () => {
  it("are signed: an independent HMAC check of t.body with the secret as shown passes", async () => {
    const tenant = freshTenant();
    const hook = await register(tenant, ["key.created"]);
    const key = await createKey(tenant, { name: "watched" });
    const [delivery] = await eventually(
      () => received(hook.name),
      (list) => list.length >= 1,
    );
    expect(delivery).toBeDefined();
    const { ok, t } = await verify(hook.secret, delivery!.headers["keygate-signature"]!, delivery!.body);
    expect(ok).toBe(true);
    expect(Math.abs(t - Date.now() / 1000)).toBeLessThan(60);
    expect((await verify(`${hook.secret}x`, delivery!.headers["keygate-signature"]!, delivery!.body)).ok).toBe(false);
    const event = JSON.parse(delivery!.body) as { id: string; type: string; tenant: string; data: { key: Record<string, unknown> } };
    expect(event).toMatchObject({ type: "key.created", tenant, data: { key: { id: key.id, name: "watched" } } });
    expect(event.data.key).not.toHaveProperty("api_key");
    expect(delivery!.headers["keygate-event-id"]).toBe(event.id);
    expect(delivery!.headers["content-type"]).toBe("application/json");
  });

  it("are retried after 500s until they succeed, and every attempt is visible", async () => {
    const tenant = freshTenant();
    const hook = await register(tenant, ["key.revoked"], { fail: 2 });
    const key = await createKey(tenant);
    const token = await userToken({ tenants: [tenant] });
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${key.id}/revoke`, { token });
    // Revoking again is not a second event.
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${key.id}/revoke`, { token });
    const got = await eventually(
      () => received(hook.name),
      (list) => list.some((r) => r.status === 200),
    );
    expect(got.map((r) => r.status)).toEqual([500, 500, 200]);
    const deliveries = (await (await call("GET", `/api/v1/tenant/${tenant}/webhooks/${hook.id}/deliveries`, { token })).json()) as {
      status: string;
      attempt: number;
      event_type: string;
      attempts: { attempt: number; response_status: number; error: string | null }[];
    }[];
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]).toMatchObject({ status: "succeeded", attempt: 3, event_type: "key.revoked", response_status: 200, error: null });
    expect(deliveries[0]?.attempts.map((a) => [a.attempt, a.response_status, a.error])).toEqual([
      [1, 500, "the endpoint answered 500"],
      [2, 500, "the endpoint answered 500"],
      [3, 200, null],
    ]);
    // The receiver got the same event id each time: it can drop repeats.
    expect(new Set(got.map((r) => r.headers["keygate-event-id"])).size).toBe(1);
  });

  it("give up after WEBHOOK_MAX_ATTEMPTS and say so", async () => {
    const tenant = freshTenant();
    const hook = await register(tenant, ["volume"], { fail: 100 });
    const id = `dlv-${crypto.randomUUID()}`;
    const now = Math.floor(Date.now() / 1000);
    await env.DB.prepare(
      `INSERT INTO webhook_deliveries (id, webhook_id, tenant_id, event_id, event_type, payload, status, attempts, next_attempt_at, created_at, updated_at)
       VALUES (?, ?, ?, 'evt-doomed', 'volume', '{}', 'pending', 0, ?, ?, ?)`,
    )
      .bind(id, hook.id, tenant, now, now, now)
      .run();
    await attemptDelivery(env, { ...deliveryConfig(env), maxAttempts: 1 }, id);
    const row = await env.DB.prepare("SELECT status, attempts, next_attempt_at, last_status FROM webhook_deliveries WHERE id = ?")
      .bind(id)
      .first();
    expect(row).toEqual({ status: "failed", attempts: 1, next_attempt_at: null, last_status: 500 });
    // A second message for the same delivery finds it final and sends nothing.
    await attemptDelivery(env, deliveryConfig(env), id);
    expect(await received(hook.name)).toHaveLength(1);
  });

  it("back off exponentially, capped, for about a day", () => {
    const delays = Array.from({ length: 13 }, (_, i) => retryDelaySeconds(i + 1, 30));
    expect(delays.slice(0, 4)).toEqual([30, 60, 120, 240]);
    expect(Math.max(...delays)).toBe(6 * 3600);
    const total = delays.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(20 * 3600);
    expect(total).toBeLessThan(36 * 3600);
  });

  it("test events reach only that webhook", async () => {
    const tenant = freshTenant();
    const hook = await register(tenant, ["volume"]);
    const other = await register(tenant, ["volume"]);
    const res = await call("POST", `/api/v1/tenant/${tenant}/webhooks/${hook.id}/test`, { token: await userToken({ tenants: [tenant] }) });
    expect(res.status).toBe(202);
    const { event_id } = (await res.json()) as { event_id: string };
    const got = await eventually(
      () => received(hook.name),
      (list) => list.length >= 1,
    );
    expect(JSON.parse(got[0]!.body)).toMatchObject({ id: event_id, type: "webhook.test", tenant });
    expect(await received(other.name)).toEqual([]);
  });

  it("the cron re-sends deliveries whose queue message was lost", async () => {
    const tenant = freshTenant();
    const hook = await register(tenant, ["volume"]);
    const now = Math.floor(Date.now() / 1000);
    // A pending delivery, due ten minutes ago, that no message will ever bring.
    await env.DB.prepare(
      `INSERT INTO webhook_deliveries (id, webhook_id, tenant_id, event_id, event_type, payload, status, attempts, next_attempt_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, 'volume', ?, 'pending', 0, ?, ?, ?)`,
    )
      .bind(`dlv-${crypto.randomUUID()}`, hook.id, tenant, "evt-stranded", '{"id":"evt-stranded"}', now - 600, now - 600, now - 600)
      .run();
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "*/5 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    const got = await eventually(
      () => received(hook.name),
      (list) => list.length >= 1,
    );
    expect(got[0]?.body).toBe('{"id":"evt-stranded"}');
  });

  it("the cron re-sends 150 stranded deliveries (more than D1 binds in one statement) in one run", async () => {
    const tenant = freshTenant();
    const now = Math.floor(Date.now() / 1000);
    const ids = Array.from({ length: 150 }, () => `dlv-${crypto.randomUUID()}`);
    // Their webhook is gone, so each attempt is final at once and sends nothing: the test is the re-send.
    const insert = env.DB.prepare(
      `INSERT INTO webhook_deliveries (id, webhook_id, tenant_id, event_id, event_type, payload, status, attempts, next_attempt_at, created_at, updated_at)
       VALUES (?, 'wh-deleted', ?, ?, 'volume', '{}', 'pending', 0, ?, ?, ?)`,
    );
    await env.DB.batch(ids.map((id) => insert.bind(id, tenant, `evt-${id}`, now - 900, now - 900, now - 900)));
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "*/5 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    const attempted = await eventually(
      async () =>
        (
          await env.DB.prepare("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE tenant_id = ? AND attempts = 1 AND status = 'failed'")
            .bind(tenant)
            .first<{ n: number }>()
        )?.n ?? 0,
      (n) => n === ids.length,
      20_000,
    );
    expect(attempted).toBe(ids.length);
  });

  it("lists a page of 150 deliveries with their attempts (more ids than D1 binds in one IN list)", async () => {
    const tenant = freshTenant();
    const hook = await register(tenant, ["volume"]);
    const now = Math.floor(Date.now() / 1000);
    const ids = Array.from({ length: 150 }, () => `dlv-${crypto.randomUUID()}`);
    const delivery = env.DB.prepare(
      `INSERT INTO webhook_deliveries (id, webhook_id, tenant_id, event_id, event_type, payload, status, attempts, next_attempt_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, 'volume', '{}', 'failed', 1, NULL, ?, ?)`,
    );
    const attempt = env.DB.prepare(
      "INSERT INTO webhook_attempts (delivery_id, attempt, at, response_status, error, duration_ms) VALUES (?, 1, ?, 500, 'the endpoint answered 500', 3)",
    );
    await env.DB.batch(ids.flatMap((id) => [delivery.bind(id, hook.id, tenant, `evt-${id}`, now, now), attempt.bind(id, now)]));
    const res = await call("GET", `/api/v1/tenant/${tenant}/webhooks/${hook.id}/deliveries?limit=1000`, {
      token: await userToken({ tenants: [tenant] }),
    });
    expect(res.status).toBe(200);
    const page = (await res.json()) as { id: string; attempts: unknown[] }[];
    expect(page).toHaveLength(ids.length);
    expect(page.every((d) => d.attempts.length === 1)).toBe(true);
  });
});
