/**
 * Usage monitoring end to end against `npm run dev`: traffic through the gateway shows up in the
 * usage API exactly, raises the seed's two alerts (more than 1,000 requests an hour from one key;
 * access from a new IP), and the alerts reach a real webhook receiver (Python, verifying the
 * signature with hmac) after it failed twice.
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../helpers/eventually";
import { startTestOrigin, type TestOrigin } from "../helpers/test-origin";
import { freePort, type Keygate, startKeygate } from "./harness";

/** Through `wrangler dev`: usage flush, queue batch, roll-up, then webhook deliveries with retries. */
const ROLLUP_TIMEOUT_MS = 30_000;

const RECEIVER = path.join(import.meta.dirname, "clients", "webhook_receiver.py");
let origin: TestOrigin;
let kg: Keygate;
let receiver: ChildProcess;
let receiverUrl: string;
let token: string;

async function api(method: string, p: string, body?: unknown) {
  const res = await fetch(`${kg.url}${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as never };
}

beforeAll(async () => {
  origin = await startTestOrigin();
  const port = await freePort();
  receiver = spawn("/usr/bin/python3", [RECEIVER, String(port)], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    receiver.stdout?.once("data", () => resolve());
    receiver.once("exit", (code) => reject(new Error(`webhook receiver exited ${code}`)));
  });
  receiverUrl = `http://127.0.0.1:${port}`;
  // Retries a second apart, not 30 s: the receiver fails its first two deliveries.
  kg = await startKeygate({ vars: { ORIGIN_URL: origin.url, WEBHOOK_RETRY_BASE_SECONDS: "1" } });
  token = await kg.userToken(["usage-tenant"]);
});

afterAll(async () => {
  await kg?.stop();
  receiver?.kill();
  await origin?.close();
});

describe("usage monitoring against npm run dev", () => {
  it("counts 1,000 requests exactly, raises the seed's two alerts, and delivers them signed", async () => {
    const base = "/api/v1/tenant/usage-tenant";
    const hook = await api("POST", `${base}/webhooks`, { url: `${receiverUrl}/hook`, events: ["volume", "new_ip"] });
    expect(hook.status).toBe(201);
    const { secret } = hook.body as { secret: string };
    await fetch(receiverUrl, { method: "PUT", body: JSON.stringify({ secret, fail: 2 }) });
    const created = await api("POST", `${base}/api-keys/create`, { name: "busy", scopes: ["api:read"], expires_in_days: 1 });
    const key = created.body as { id: string; api_key: string };

    const send = (ip: string) =>
      fetch(`${kg.url}/api/v1/resources/usage`, { headers: { authorization: `Bearer ${key.api_key}`, "cf-connecting-ip": ip } }).then(
        async (r) => {
          await r.arrayBuffer();
          return r.status;
        },
      );
    const statuses: number[] = [];
    for (let i = 0; i < 1000; i += 25) statuses.push(...(await Promise.all(Array.from({ length: 25 }, () => send("198.51.100.1")))));
    // The 1,001st request, from an address this key was never used from.
    statuses.push(await send("203.0.113.50"));
    expect(statuses.filter((s) => s === 200)).toHaveLength(1001);

    const usage = await eventually(
      async () =>
        (await api("GET", `${base}/api-keys/${key.id}/usage?granularity=minute`)).body as {
          totals: { total: number; outcomes: Record<string, number> };
        },
      (u) => u.totals.total >= 1001,
      ROLLUP_TIMEOUT_MS,
    );
    expect(usage.totals).toEqual({ total: 1001, outcomes: { accepted: 1001 } });
    const ips = (await api("GET", `${base}/api-keys/${key.id}/ips`)).body as { ip: string; count: number }[];
    expect(ips.map((i) => [i.ip, i.count]).sort()).toEqual([
      ["198.51.100.1", 1000],
      ["203.0.113.50", 1],
    ]);

    const alerts = await eventually(
      async () => (await api("GET", `${base}/alerts`)).body as { type: string; key_id: string; details: Record<string, unknown> }[],
      (list) => list.length >= 2,
      ROLLUP_TIMEOUT_MS,
    );
    expect(alerts.map((a) => a.type).sort()).toEqual(["new_ip", "volume"]);
    expect(alerts.find((a) => a.type === "new_ip")?.details).toMatchObject({ ip: "203.0.113.50" });
    expect(alerts.every((a) => a.key_id === key.id)).toBe(true);

    // The Python receiver verified each delivery's signature with hmac; the first two got 500.
    const received = await eventually(
      async () => (await (await fetch(receiverUrl)).json()) as { verified: boolean; status: number; type: string | null }[],
      (list) => list.filter((r) => r.status === 200).length >= 2,
      ROLLUP_TIMEOUT_MS,
    );
    expect(received.every((r) => r.verified)).toBe(true);
    expect(received.slice(0, 2).map((r) => r.status)).toEqual([500, 500]);
    expect(
      received
        .filter((r) => r.status === 200)
        .map((r) => r.type)
        .sort(),
    ).toEqual(["new_ip", "volume"]);
  });
});
