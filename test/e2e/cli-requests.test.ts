/**
 * The requests the keygate CLI builds, byte for byte: a small HTTP server stands where keygate
 * would, records what it receives and answers with the documented response shapes. This covers
 * what the dev server on this branch cannot answer yet (rate limits, IP allowlists, usage,
 * alerts, webhooks) and what must never reach a server (usage errors, a saved token sent to
 * another URL). cli.test.ts runs the CLI against the real dev server.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type CliOptions, runCli, tempHome } from "./cli-helpers";
import { freePort } from "./harness";

interface Seen {
  method: string;
  path: string;
  query: Record<string, string>;
  authorization: string | undefined;
  contentType: string | undefined;
  userAgent: string | undefined;
  /** The parsed JSON body, or undefined when there was none. */
  body: unknown;
}

interface Answer {
  status?: number;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
}

let server: Server;
let url: string;
let seen: Seen[] = [];
/** "METHOD /path" -> the answer, or a function of the request for paged answers. */
let answers: Record<string, Answer | ((req: Seen) => Answer)> = {};
const home = tempHome();

const KEY = {
  id: "key-1",
  name: "deploy",
  api_key: "eyJhbGciOiJSUzI1NiJ9.eyJrZXlfaWQiOiJrZXktMSJ9.c2ln",
  scopes: ["api:read"],
  created_at: 1_767_225_600,
  expires_at: null,
  last_used: null,
  revoked: false,
};

async function readBody(req: IncomingMessage): Promise<unknown> {
  let text = "";
  for await (const chunk of req) text += chunk;
  return text === "" ? undefined : JSON.parse(text);
}

beforeAll(async () => {
  server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const target = new URL(req.url ?? "/", "http://x");
    const request: Seen = {
      method: req.method ?? "",
      path: target.pathname,
      query: Object.fromEntries(target.searchParams),
      authorization: req.headers.authorization,
      contentType: req.headers["content-type"],
      userAgent: req.headers["user-agent"],
      body: await readBody(req),
    };
    seen.push(request);
    const entry = answers[`${request.method} ${request.path}`];
    const answer = typeof entry === "function" ? entry(request) : entry;
    if (!answer) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "not_found", error_description: "Not found" }));
      return;
    }
    res.writeHead(answer.status ?? 200, { "content-type": "application/json", ...answer.headers });
    res.end(answer.raw ?? JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  home.remove();
});

beforeEach(() => {
  seen = [];
  answers = {};
});

/** The CLI pointed at the recording server through the environment, as CI would. */
function cli(args: string[], options: CliOptions = {}) {
  return runCli(home.home, args, {
    ...options,
    env: { KEYGATE_URL: url, KEYGATE_TENANT: "t1", KEYGATE_TOKEN: "tok-env", ...options.env },
  });
}

const T = "/api/v1/tenant/t1";

describe("keygate keys: request bodies", () => {
  it("create sends name and scopes only, and prints only the key when stdout is not a terminal", async () => {
    answers[`POST ${T}/api-keys/create`] = { status: 201, body: KEY };
    const run = await cli(["keys", "create", "--name", "deploy", "--scope", "api:read", "--scope", "api:write,deploy:production"]);
    expect(run).toMatchObject({ code: 0, stdout: `${KEY.api_key}\n`, stderr: "" });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      method: "POST",
      path: `${T}/api-keys/create`,
      authorization: "Bearer tok-env",
      contentType: "application/json",
      userAgent: expect.stringMatching(new RegExp(`^keygate-cli/\\d+\\.\\d+\\.\\d+ node/${process.versions.node}$`)),
    });
    expect(seen[0]?.body).toStrictEqual({ name: "deploy", scopes: ["api:read", "api:write", "deploy:production"] });
  });

  it("create sends expiry, rate limits and IP allowlist when given", async () => {
    answers[`POST ${T}/api-keys/create`] = { status: 201, body: KEY };
    const run = await cli([
      "keys",
      "create",
      "--name",
      "limited",
      "--scope",
      "api:read",
      "--expires-in-days",
      "30",
      "--rate-limit",
      "burst=100/60",
      "--rate-limit",
      "daily=10000/1d",
      "--rate-limit",
      "slow=5/90s,hourly=50/12h,per_min=7/30m",
      "--allow-ip",
      "10.0.0.0/8",
      "--allow-ip",
      "2001:db8::1",
    ]);
    expect(run.code).toBe(0);
    expect(seen[0]?.body).toStrictEqual({
      name: "limited",
      scopes: ["api:read"],
      expires_in_days: 30,
      rate_limits: [
        { name: "burst", limit: 100, window_seconds: 60 },
        { name: "daily", limit: 10000, window_seconds: 86_400 },
        { name: "slow", limit: 5, window_seconds: 90 },
        { name: "hourly", limit: 50, window_seconds: 43_200 },
        { name: "per_min", limit: 7, window_seconds: 1_800 },
      ],
      allowed_ips: ["10.0.0.0/8", "2001:db8::1"],
    });
  });

  it("refuses malformed limits, addresses and durations with exit 2, before any request", async () => {
    const cases: [string[], RegExp][] = [
      [["--rate-limit", "burst=100"], /--rate-limit.*'burst=100' is invalid.*name=limit\/window/],
      [["--rate-limit", "burst=100/1w"], /window "1w" is not a duration/],
      [["--allow-ip", "10.0.0.300"], /--allow-ip.*IPv4 or IPv6/],
      [["--allow-ip", "10.0.0.0/33"], /--allow-ip/],
      [["--expires-in-days", "ninety"], /--expires-in-days.*whole number/],
    ];
    const runs = await Promise.all(cases.map(([extra]) => cli(["keys", "create", "--name", "x", "--scope", "api:read", ...extra])));
    for (const [i, [extra, message]] of cases.entries()) {
      const run = runs[i] as Awaited<ReturnType<typeof cli>>;
      expect(run.code, extra.join(" ")).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stdout).toBe("");
    }
    expect(seen).toHaveLength(0);
  });

  it("update sends only what was asked, null to clear, and refuses an empty or contradictory update", async () => {
    answers[`PATCH ${T}/api-keys/key-1`] = { body: { ...KEY, api_key: undefined } };
    await cli(["keys", "update", "key-1", "--clear-rate-limits", "--clear-allowed-ips"]);
    await cli(["keys", "update", "key-1", "--name", "renamed", "--metadata", '{"team":"payments"}', "--rate-limit", "burst=10/1s"]);
    await cli(["keys", "update", "key-1", "--metadata", "null", "--allow-ip", "203.0.113.7"]);
    expect(seen.map((s) => [s.method, s.path, s.body])).toStrictEqual([
      ["PATCH", `${T}/api-keys/key-1`, { rate_limits: null, allowed_ips: null }],
      [
        "PATCH",
        `${T}/api-keys/key-1`,
        { name: "renamed", metadata: { team: "payments" }, rate_limits: [{ name: "burst", limit: 10, window_seconds: 1 }] },
      ],
      ["PATCH", `${T}/api-keys/key-1`, { metadata: null, allowed_ips: ["203.0.113.7"] }],
    ]);

    seen = [];
    const empty = await cli(["keys", "update", "key-1"]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/nothing to update/);
    const both = await cli(["keys", "update", "key-1", "--rate-limit", "a=1/1", "--clear-rate-limits"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/cannot be used with/);
    const badJson = await cli(["keys", "update", "key-1", "--metadata", "[1]"]);
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toMatch(/--metadata.*JSON object/);
    expect(seen).toHaveLength(0);
  });

  it("rotate sends the grace period in seconds and the changes given; no body without options", async () => {
    answers[`POST ${T}/api-keys/key-1/rotate`] = { status: 201, body: { ...KEY, id: "key-2", rotated_from: "key-1" } };
    const run = await cli([
      "keys",
      "rotate",
      "key-1",
      "--grace-period",
      "12h",
      "--name",
      "deploy v2",
      "--scope",
      "api:read,api:write",
      "--expires-in-days",
      "0",
      "--rate-limit",
      "burst=5/30m",
      "--allow-ip",
      "203.0.113.0/24",
    ]);
    expect(run).toMatchObject({ code: 0, stdout: `${KEY.api_key}\n` });
    await cli(["keys", "rotate", "key-1"]);
    await cli(["keys", "rotate", "key-1", "--grace-period", "0"]);
    expect(seen.map((s) => s.body)).toStrictEqual([
      {
        grace_period_seconds: 43_200,
        name: "deploy v2",
        scopes: ["api:read", "api:write"],
        expires_in_days: 0,
        rate_limits: [{ name: "burst", limit: 5, window_seconds: 1_800 }],
        allowed_ips: ["203.0.113.0/24"],
      },
      undefined,
      { grace_period_seconds: 0 },
    ]);
    expect(seen[1]?.contentType).toBeUndefined();
  });

  it("revoke sends the reason when given; ids are encoded into the path", async () => {
    answers[`POST ${T}/api-keys/key-1/revoke`] = { body: { success: true, message: "API key revoked successfully" } };
    const run = await cli(["keys", "revoke", "key-1", "--reason", "leaked in a log"]);
    expect(run).toMatchObject({ code: 0, stdout: "Revoked key-1\n" });
    await cli(["keys", "revoke", "key-1", "--json"]);
    await cli(["keys", "get", "a/b?c"]);
    expect(seen.map((s) => [s.path, s.body])).toStrictEqual([
      [`${T}/api-keys/key-1/revoke`, { reason: "leaked in a log" }],
      [`${T}/api-keys/key-1/revoke`, undefined],
      [`${T}/api-keys/a%2Fb%3Fc`, undefined],
    ]);
  });

  it("list passes the filters, follows X-Next-Cursor with --all, and says when pages were left", async () => {
    answers[`GET ${T}/api-keys/list`] = (req) =>
      req.query.cursor === undefined
        ? { body: [{ ...KEY, id: "key-3" }], headers: { "x-next-cursor": "djE6Mw" } }
        : { body: [{ ...KEY, id: "key-2" }] };
    const all = await cli(["keys", "list", "--status", "active", "--unused-days", "30", "--limit", "1", "--all", "--json"]);
    expect(all.code).toBe(0);
    expect((JSON.parse(all.stdout) as { id: string }[]).map((k) => k.id)).toStrictEqual(["key-3", "key-2"]);
    expect(seen.map((s) => s.query)).toStrictEqual([
      { status: "active", unused_days: "30", limit: "1" },
      { status: "active", unused_days: "30", limit: "1", cursor: "djE6Mw" },
    ]);

    seen = [];
    const first = await cli(["keys", "list", "--limit", "1"]);
    expect(seen).toHaveLength(1);
    expect(first.stdout).toMatch(
      /^ID +NAME +STATUS +SCOPES +CREATED +EXPIRES +LAST USED\nkey-3 +deploy +active +api:read +2026-01-01T00:00:00Z +never +never\n$/,
    );
    expect(first.stderr).toMatch(/more keys than shown: add --all/);
  });
});

describe("keygate usage, alerts and webhooks: requests and output", () => {
  it("usage for one key: time range, granularity and a table of outcomes", async () => {
    answers[`GET ${T}/api-keys/key-1/usage`] = {
      body: {
        key_id: "key-1",
        granularity: "minute",
        from: 1_767_218_400,
        to: 1_767_225_600,
        buckets: [
          { start: 1_767_218_400, total: 12, outcomes: { accepted: 10, rate_limited: 2 } },
          { start: 1_767_218_460, total: 3, outcomes: { accepted: 3 } },
        ],
        totals: { total: 15, outcomes: { accepted: 13, rate_limited: 2 } },
      },
    };
    const before = Math.floor(Date.now() / 1000);
    const run = await cli(["usage", "key-1", "--from", "2h", "--to", "2026-01-01T00:00:00Z", "--granularity", "minute"]);
    expect(run.code).toBe(0);
    const query = seen[0]?.query ?? {};
    expect(query.granularity).toBe("minute");
    expect(query.to).toBe("1767225600");
    expect(Number(query.from)).toBeGreaterThanOrEqual(before - 7200 - 1);
    expect(Number(query.from)).toBeLessThanOrEqual(before - 7200 + 5);
    expect(run.stdout).toBe(
      [
        "key-1: 2025-12-31T22:00:00Z to 2026-01-01T00:00:00Z by minute",
        "START                 TOTAL  ACCEPTED  RATE_LIMITED",
        "2025-12-31T22:00:00Z  12     10        2",
        "2025-12-31T22:01:00Z  3      3         0",
        "total                 15     13        2",
        "",
      ].join("\n"),
    );
  });

  it("usage for the tenant: totals and busiest keys; --granularity needs a key", async () => {
    answers[`GET ${T}/usage`] = {
      body: {
        from: 1_767_139_200,
        to: 1_767_225_600,
        totals: { total: 20, outcomes: { accepted: 18, invalid: 2 } },
        keys: [{ key_id: "key-1", name: "deploy", total: 20, outcomes: { accepted: 18, invalid: 2 } }],
      },
    };
    const run = await cli(["usage", "--from", "1767139200"]);
    expect(run.code).toBe(0);
    expect(seen[0]?.query).toStrictEqual({ from: "1767139200" });
    expect(run.stdout).toContain("20 requests (accepted 18, invalid 2)");
    expect(run.stdout).toMatch(/KEY +NAME +TOTAL +OUTCOMES\nkey-1 +deploy +20 +accepted 18, invalid 2\n/);
    const json = await cli(["usage", "--json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ totals: { total: 20 }, keys: [{ key_id: "key-1" }] });

    seen = [];
    const bad = await cli(["usage", "--granularity", "day"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--granularity needs a key id/);
    const badTime = await cli(["usage", "key-1", "--from", "yesterday"]);
    expect(badTime.code).toBe(2);
    expect(badTime.stderr).toMatch(/--from.*unix seconds, a duration ago/);
    expect(seen).toHaveLength(0);
  });

  it("keys ips lists where a key was used from", async () => {
    answers[`GET ${T}/api-keys/key-1/ips`] = {
      body: [{ ip: "203.0.113.7", first_seen: 1_767_225_600, last_seen: 1_767_229_200, count: 42, country: "NL" }],
    };
    const run = await cli(["keys", "ips", "key-1"]);
    expect(run.stdout).toMatch(
      /IP +REQUESTS +FIRST SEEN +LAST SEEN +COUNTRY\n203\.0\.113\.7 +42 +2026-01-01T00:00:00Z +2026-01-01T01:00:00Z +NL\n/,
    );
  });

  it("alerts: list with filters, ack, and settings read and changed", async () => {
    const alert = {
      id: "alert-1",
      type: "new_ip",
      key_id: "key-1",
      created_at: 1_767_225_600,
      details: { ip: "203.0.113.7" },
      acknowledged_at: null,
    };
    answers[`GET ${T}/alerts`] = { body: [alert] };
    answers[`POST ${T}/alerts/alert-1/ack`] = { body: { ...alert, acknowledged_at: 1_767_229_200 } };
    const settings = {
      volume_per_hour: 1000,
      new_ip: true,
      refusals_per_hour: 100,
      expiring_within_days: 7,
      unused_days: 90,
      leak_action: "revoke",
    };
    answers[`GET ${T}/alert-settings`] = { body: settings };
    answers[`PUT ${T}/alert-settings`] = (req) => ({ body: { ...settings, ...(req.body as object) } });

    const list = await cli(["alerts", "list", "--since", "1767225600", "--type", "new_ip", "--limit", "5"]);
    expect(list.stdout).toMatch(/alert-1 +new_ip +key-1 +2026-01-01T00:00:00Z +no +\{"ip":"203\.0\.113\.7"\}\n/);
    const ack = await cli(["alerts", "ack", "alert-1"]);
    expect(ack.stdout).toBe("Acknowledged alert-1 (new_ip) at 2026-01-01T01:00:00Z\n");
    const shown = await cli(["alerts", "settings"]);
    expect(shown.stdout).toMatch(/^volume_per_hour: +1000\nnew_ip: +true\n/);
    const changed = await cli([
      "alerts",
      "settings",
      "--set",
      "volume_per_hour=500",
      "--set",
      "new_ip=false",
      "--set",
      "leak_action=notify",
      "--json",
    ]);
    expect(JSON.parse(changed.stdout)).toMatchObject({ volume_per_hour: 500, new_ip: false, leak_action: "notify" });
    expect(seen.map((s) => [s.method, s.path, s.query, s.body])).toStrictEqual([
      ["GET", `${T}/alerts`, { since: "1767225600", type: "new_ip", limit: "5" }, undefined],
      ["POST", `${T}/alerts/alert-1/ack`, {}, undefined],
      ["GET", `${T}/alert-settings`, {}, undefined],
      ["PUT", `${T}/alert-settings`, {}, { volume_per_hour: 500, new_ip: false, leak_action: "notify" }],
    ]);
    const bad = await cli(["alerts", "settings", "--set", "volume_per_hour"]);
    expect(bad.code).toBe(2);
    expect(seen).toHaveLength(4);
  });

  it("webhooks: create prints the secret once; --url after the command is the webhook's URL", async () => {
    const hook = { id: "wh-1", url: "https://hooks.example.com/kg", events: ["volume", "key.created"], created_at: 1_767_225_600 };
    answers[`POST ${T}/webhooks`] = { status: 201, body: { ...hook, secret: "whsec_abc" } };
    answers[`GET ${T}/webhooks`] = { body: [hook] };
    answers[`DELETE ${T}/webhooks/wh-1`] = { body: { success: true, message: "Webhook deleted" } };
    answers[`POST ${T}/webhooks/wh-1/test`] = { status: 202, body: { event_id: "evt-1" } };
    answers[`GET ${T}/webhooks/wh-1/deliveries`] = {
      body: [
        {
          id: "dl-1",
          event_id: "evt-1",
          event_type: "test",
          attempt: 1,
          status: "failed",
          response_status: 500,
          error: "HTTP 500",
          at: 1_767_225_600,
          next_attempt_at: 1_767_225_660,
        },
      ],
    };

    // keygate's URL before the command, the webhook's after it.
    const created = await cli(["--url", url, "webhooks", "create", "--url", hook.url, "--event", "volume", "--event", "key.created"], {
      env: { KEYGATE_URL: undefined },
    });
    expect(created).toMatchObject({ code: 0, stdout: "whsec_abc\n" });
    const list = await cli(["webhooks", "list"]);
    expect(list.stdout).toMatch(/wh-1 +https:\/\/hooks\.example\.com\/kg +volume,key\.created +2026-01-01T00:00:00Z\n/);
    expect((await cli(["webhooks", "test", "wh-1"])).stdout).toMatch(/Queued test event evt-1/);
    const deliveries = await cli(["webhooks", "deliveries", "wh-1"]);
    expect(deliveries.stdout).toMatch(/evt-1 +test +1 +failed +500 +2026-01-01T00:01:00Z +HTTP 500\n/);
    expect((await cli(["webhooks", "delete", "wh-1"])).stdout).toBe("Deleted wh-1\n");
    expect(seen.map((s) => [s.method, s.path, s.body])).toStrictEqual([
      ["POST", `${T}/webhooks`, { url: hook.url, events: ["volume", "key.created"] }],
      ["GET", `${T}/webhooks`, undefined],
      ["POST", `${T}/webhooks/wh-1/test`, undefined],
      ["GET", `${T}/webhooks/wh-1/deliveries`, undefined],
      ["DELETE", `${T}/webhooks/wh-1`, undefined],
    ]);
  });
});

describe("keygate: errors and where settings come from", () => {
  it("a refusal exits 1 with the API's error_description; a non-JSON answer exits 1 and says so", async () => {
    answers[`GET ${T}/api-keys/key-9`] = { status: 404, body: { error: "not_found", error_description: "API key not found" } };
    const refused = await cli(["keys", "get", "key-9"]);
    expect(refused).toMatchObject({ code: 1, stdout: "", stderr: "keygate: API key not found (not_found, 404)\n" });

    answers[`GET ${T}/api-keys/key-8`] = { status: 502, raw: "<html>Bad Gateway</html>" };
    const proxy = await cli(["keys", "get", "key-8"]);
    expect(proxy.code).toBe(1);
    expect(proxy.stderr).toMatch(
      /GET \/api\/v1\/tenant\/t1\/api-keys\/key-8 answered 502 Bad Gateway: <html>Bad Gateway<\/html> \(HTTP 502\)/,
    );

    answers[`GET ${T}/api-keys/key-7`] = { status: 200, raw: "OK" };
    const notApi = await cli(["keys", "get", "key-7"]);
    expect(notApi.code).toBe(1);
    expect(notApi.stderr).toMatch(/without JSON: is http:\/\/127\.0\.0\.1:\d+ a keygate\?/);
  });

  it("--url/--tenant/--token beat the environment, before or after the command", async () => {
    answers["GET /api/v1/tenant/t2/api-keys/list"] = { body: [] };
    const after = await cli(["keys", "list", "--tenant", "t2", "--token", "tok-flag"]);
    const before = await cli(["--tenant", "t2", "--token", "tok-flag", "keys", "list"]);
    expect([after.code, before.code]).toStrictEqual([0, 0]);
    expect(after.stdout).toBe("No keys.\n");
    expect(seen.map((s) => [s.path, s.authorization])).toStrictEqual([
      ["/api/v1/tenant/t2/api-keys/list", "Bearer tok-flag"],
      ["/api/v1/tenant/t2/api-keys/list", "Bearer tok-flag"],
    ]);
  });

  it("never sends a saved token to a URL other than the one it was saved for", async () => {
    const other = tempHome();
    try {
      answers[`GET ${T}/api-keys/list`] = { body: [] };
      // A login to the recording server, then a call that points elsewhere without a token.
      const login = await runCli(other.home, ["login", "--url", url, "--tenant", "t1"], { input: "tok-saved\n" });
      expect(login.code).toBe(0);
      expect(seen[0]?.authorization).toBe("Bearer tok-saved");
      seen = [];
      const elsewhere = await runCli(other.home, ["keys", "list"], { env: { KEYGATE_URL: "http://127.0.0.1:9" } });
      expect(elsewhere.code).toBe(2);
      expect(elsewhere.stderr).toContain(`no tenant for http://127.0.0.1:9 (the saved login is for ${url})`);
      const sameServer = await runCli(other.home, ["keys", "list"], { env: { KEYGATE_URL: `${url}/` } });
      expect(sameServer.code).toBe(0);
      expect(seen.map((s) => s.authorization)).toStrictEqual(["Bearer tok-saved"]);
    } finally {
      other.remove();
    }
  });

  it("a broken config file is a usage error that a new login repairs", async () => {
    const broken = tempHome();
    try {
      const file = path.join(broken.home, ".config", "keygate", "config.json");
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, "{not json");
      const run = await runCli(broken.home, ["keys", "list"]);
      expect(run).toMatchObject({ code: 2, stderr: `keygate: ${file} is not valid JSON; run \`keygate login\` again or remove it\n` });
      answers[`GET ${T}/api-keys/list`] = { body: [] };
      const login = await runCli(broken.home, ["login", "--url", url, "--tenant", "t1", "--token", "tok-new"]);
      expect(login.code).toBe(0);
      expect(JSON.parse(readFileSync(file, "utf8"))).toStrictEqual({ url, tenant: "t1", token: "tok-new" });
    } finally {
      broken.remove();
    }
  });

  it("cannot reach keygate: exit 1 with the reason", async () => {
    const port = await freePort();
    const closed = await cli(["keys", "list"], { env: { KEYGATE_URL: `http://127.0.0.1:${port}` } });
    expect(closed.code).toBe(1);
    expect(closed.stderr).toBe(`keygate: cannot reach http://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n`);
  });
});

describe("keygate: what the server stored is printed, never interpreted by the terminal", () => {
  // Rows stored before keygate refused control characters: a title change, a screen clear, a C1 CSI.
  const ESC = "\u001b";
  const hostile = `${ESC}]0;owned\u0007${ESC}[2J\u009b31m`;
  const escaped = "\\u001b]0;owned\\u0007\\u001b[2J\\u009b31m";

  it("keys list, keys get, audit and an error show control characters as \\u escapes", async () => {
    const key = { ...KEY, id: "key-2", name: `deploy${hostile}`, metadata: { [`team${ESC}`]: hostile } };
    answers[`GET ${T}/api-keys/list`] = { body: [key] };
    answers[`GET ${T}/api-keys/key-2`] = { body: key };
    answers[`GET ${T}/audit-log`] = {
      body: [
        {
          id: "evt-1",
          at: 1_767_225_600,
          actor_kind: "user",
          actor_id: `mallory${hostile}`,
          action: "create",
          key_id: "key-2",
          outcome: "denied",
          status: 403,
          error: `access_denied${hostile}`,
          ip: "192.0.2.1",
          user_agent: hostile,
        },
      ],
    };
    answers[`POST ${T}/api-keys/key-2/revoke`] = { status: 403, body: { error: "access_denied", error_description: `no${hostile}` } };
    const runs = [
      await cli(["keys", "list"]),
      await cli(["keys", "get", "key-2"]),
      await cli(["audit"]),
      await cli(["audit", "--json"]),
      await cli(["keys", "revoke", "key-2"]),
    ];
    for (const run of runs) {
      expect(run.stdout + run.stderr).not.toMatch(/[^\P{Cc}\n]/u); // no control character but the line ends
    }
    expect(runs[0]?.stdout).toContain(`deploy${escaped}`);
    expect(runs[1]?.stdout).toContain(escaped);
    expect(runs[2]?.stdout).toContain(`user:mallory${escaped}`);
    expect(JSON.parse(runs[3]?.stdout ?? "")[0].user_agent).toBe(escaped);
    expect(runs[4]?.stderr).toContain(`no${escaped}`);
  });

  it("keys list and audit show bidi formatting characters as \\u escapes: a name cannot reorder its row", async () => {
    const bidi = "invoice\u202Egpj.exe\u2066x\u2069\u200E\u200F\u061C\u202A\u202D\u2067\u2068";
    const shown = "invoice\\u202egpj.exe\\u2066x\\u2069\\u200e\\u200f\\u061c\\u202a\\u202d\\u2067\\u2068";
    answers[`GET ${T}/api-keys/list`] = { body: [{ ...KEY, id: "key-3", name: bidi }] };
    answers[`GET ${T}/audit-log`] = {
      body: [
        {
          id: "evt-2",
          at: 1_767_225_600,
          actor_kind: "user",
          actor_id: bidi,
          action: "revoke",
          key_id: "key-3",
          outcome: "success",
          status: 200,
          error: null,
          ip: "192.0.2.1",
          user_agent: bidi,
        },
      ],
    };
    const runs = [await cli(["keys", "list"]), await cli(["audit"])];
    for (const run of runs) expect(run.stdout + run.stderr).not.toMatch(/[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u);
    expect(runs[0]?.stdout).toContain(shown);
    expect(runs[1]?.stdout).toContain(`user:${shown}`);
  });
});
