/**
 * The key lifecycle end to end: docs/rotation.md's CI rotation recipe (examples/rotate_key.py) rotating a
 * deploy key with an expiring management key, then the management key itself; escalation refused
 * and audited, audit isolation, and the reconciler repairing a lost KV write across a dev-server
 * restart.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestOrigin, type TestOrigin } from "../helpers/test-origin";
import { type Keygate, startKeygate } from "./harness";

const exec = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "..", "..");
/** The rotations' grace period: long enough for the checks right after each rotation on a loaded machine. */
const GRACE_PERIOD_SECONDS = 8;
let origin: TestOrigin;
let kg: Keygate;

async function api(method: string, p: string, token: string, body?: unknown) {
  const res = await fetch(`${kg.url}${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & Record<string, unknown>[] };
}

async function deploy(key: string) {
  const res = await fetch(`${kg.url}/deploy`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: "{}",
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  origin = await startTestOrigin();
  kg = await startKeygate({ vars: { ORIGIN_URL: origin.url, REVOCATION_CACHE_TTL_SECONDS: "0" } });
});

afterAll(async () => {
  await kg?.stop();
  await origin?.close();
});

describe("key lifecycle end to end", () => {
  it("CI rotates its deploy key, then its own expiring management key; the old keys stop at the cut-off", async () => {
    const user = await kg.userToken(["ci-tenant"]);
    // The lifetime policy refuses the recipe's old, non-expiring management key...
    const forever = await api("POST", "/api/v1/tenant/ci-tenant/api-keys/create", user, {
      name: "rotation bot",
      scopes: ["keys:manage", "deploy:production"],
      expires_in_days: 0,
    });
    expect(forever.status).toBe(400);
    expect(forever.body.error_description).toMatch(/deploy:production may live at most 90 days/);
    // ... so the job's key expires, and rotates itself.
    const manager = await api("POST", "/api/v1/tenant/ci-tenant/api-keys/create", user, {
      name: "rotation bot",
      scopes: ["keys:manage", "deploy:production"],
      expires_in_days: 90,
    });
    const deployKey = await api("POST", "/api/v1/tenant/ci-tenant/api-keys/create", user, {
      name: "deploy",
      scopes: ["deploy:production"],
      expires_in_days: 30,
    });
    expect(manager.status).toBe(201);

    const rotateKey = (managementKey: string, keyId: string) =>
      exec("python3", [path.join(ROOT, "examples", "rotate_key.py")], {
        env: {
          ...process.env,
          KEYGATE_URL: kg.url,
          KEYGATE_TENANT: "ci-tenant",
          KEYGATE_MANAGEMENT_KEY: managementKey,
          KEY_ID: keyId,
          GRACE_PERIOD_SECONDS: String(GRACE_PERIOD_SECONDS),
          NO_PROXY: "127.0.0.1",
        },
      });
    const deployRun = await rotateKey(manager.body.api_key as string, deployKey.body.id as string);
    const newKey = deployRun.stdout.trim();
    expect(deployRun.stderr).toMatch(/rotated key-.* -> key-/);
    // Within the grace period both keys work (checked at once: the period runs in real time).
    expect((await deploy(deployKey.body.api_key as string)).status).toBe(200);
    expect((await deploy(newKey)).status).toBe(200);
    const selfRun = await rotateKey(manager.body.api_key as string, "self");
    const newManager = selfRun.stdout.trim();
    expect(selfRun.stderr).toContain(`rotated ${manager.body.id} -> key-`);
    const cutoffAt = Math.floor(Date.now() / 1000) + GRACE_PERIOD_SECONDS;

    // The new management key: same scopes, a fresh lifetime of the same length.
    const managers = await api("GET", "/api/v1/tenant/ci-tenant/api-keys/list", newManager);
    expect(managers.status).toBe(200);
    const newManagerView = managers.body.find((k) => k.rotated_from === manager.body.id) as unknown as {
      id: string;
      scopes: string[];
      created_at: number;
      expires_at: number;
    };
    expect(newManagerView.scopes).toEqual(["keys:manage", "deploy:production"]);
    expect(newManagerView.expires_at - newManagerView.created_at).toBe(90 * 86_400);

    // Real time: the dev server's clock cannot be frozen from here.
    await new Promise((r) => setTimeout(r, Math.max(0, (cutoffAt + 1) * 1000 - Date.now())));
    const old = await deploy(deployKey.body.api_key as string);
    expect(old.status).toBe(401);
    expect(old.body).toEqual({ error: "invalid_token", error_description: "API key has been rotated and its grace period has ended" });
    expect((await deploy(newKey)).status).toBe(200);
    const oldManager = await api("GET", "/api/v1/tenant/ci-tenant/api-keys/list", manager.body.api_key as string);
    expect(oldManager.status).toBe(401);

    // The next run works with the rotated management key, and rotates it again.
    const nextRun = await rotateKey(newManager, "self");
    expect(nextRun.stderr).toMatch(/rotated key-.* -> key-/);

    const listed = await api("GET", "/api/v1/tenant/ci-tenant/api-keys/list", user);
    const oldView = listed.body.find((k) => k.id === deployKey.body.id);
    expect(oldView?.replaced_by).toEqual(expect.stringMatching(/^key-/));
  });

  it("refuses and audits an escalation attempt, and keeps audit logs per tenant", async () => {
    const user = await kg.userToken(["esc-tenant"]);
    const manager = await api("POST", "/api/v1/tenant/esc-tenant/api-keys/create", user, {
      name: "m",
      scopes: ["keys:manage", "api:read"],
      expires_in_days: 0,
    });
    const escalate = await api("POST", "/api/v1/tenant/esc-tenant/api-keys/create", manager.body.api_key as string, {
      name: "root",
      scopes: ["admin:all"],
      expires_in_days: 1,
    });
    expect(escalate.status).toBe(403);
    expect(escalate.body.error).toBe("access_denied");

    const audit = await api("GET", "/api/v1/tenant/esc-tenant/audit-log?action=create", user);
    expect(audit.body[0]).toMatchObject({ actor_kind: "key", actor_id: manager.body.id, outcome: "denied", status: 403 });
    const other = await api("GET", "/api/v1/tenant/other-tenant/audit-log", await kg.userToken(["other-tenant"]));
    expect(other.status).toBe(200);
    expect(other.body).toEqual([]);
  });

  it("the reconciler repairs a lost KV write after a restart", async () => {
    const user = await kg.userToken(["heal"]);
    const key = await api("POST", "/api/v1/tenant/heal/api-keys/create", user, {
      name: "k",
      scopes: ["deploy:production"],
      expires_in_days: 5,
    });
    expect((await api("POST", `/api/v1/tenant/heal/api-keys/${key.body.id}/revoke`, user)).status).toBe(200);
    expect((await deploy(key.body.api_key as string)).status).toBe(401);

    // Lose the KV entry while the server is down, as a failed KV write would have.
    await kg.stop({ keepState: true });
    await exec(
      path.join(ROOT, "node_modules", ".bin", "wrangler"),
      [
        "kv",
        "key",
        "delete",
        `key-state:${key.body.id}`,
        "--binding",
        "EDGE_RECORDS",
        "--local",
        "--persist-to",
        path.join(kg.stateDir, "state"),
      ],
      { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
    );
    kg = await startKeygate({ resume: kg, vars: { ORIGIN_URL: origin.url, REVOCATION_CACHE_TTL_SECONDS: "0" } });
    expect((await deploy(key.body.api_key as string)).status).toBe(200); // the gap a lost write leaves

    const cron = await fetch(`${kg.url}/cdn-cgi/local/scheduled?cron=*/5+*+*+*+*`);
    expect(cron.status).toBe(200);
    const refused = await deploy(key.body.api_key as string);
    expect(refused.status).toBe(401);
    expect(refused.body.error_description).toBe("API key has been revoked");
  });
});
