/**
 * The keygate CLI end to end: the real executable against the real dev server (`npm run dev`
 * path, demo origin), with tokens from the real `npm run token`, each run in its own HOME. Keys it
 * prints are used against the gateway, so "created", "revoked" and "rotated" are checked where
 * they matter. cli-requests.test.ts checks the request bodies the CLI builds.
 */
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../helpers/eventually";
import { type CliOptions, runCli, runCliOnTerminal, tempHome } from "./cli-helpers";
import { type Keygate, startKeygate } from "./harness";

const TENANT = "cli-tenant";
const JWT_LINE = /^[\w-]+\.[\w-]+\.[\w-]+\n$/;

let kg: Keygate;
let userToken: string;
/** The HOME of the logged-in user most tests run as. */
const home = tempHome();

beforeAll(async () => {
  kg = await startKeygate({ vars: { REVOCATION_CACHE_TTL_SECONDS: "0" } });
  userToken = await kg.userToken([TENANT]);
});

afterAll(async () => {
  await kg?.stop();
  home.remove();
});

/** The CLI as the logged-in user. */
function cli(args: string[], options: CliOptions = {}) {
  return runCli(home.home, args, options);
}

/** A request through the gateway to the demo origin. */
async function gateway(apiKey: string) {
  const res = await fetch(`${kg.url}/api/v1/protected-resource`, { headers: { authorization: `Bearer ${apiKey}` } });
  return { status: res.status, body: (await res.json()) as { keygate?: { key_id: string }; error_description?: string } };
}

/** The management API directly, to compare the CLI's --json with. */
async function api(p: string): Promise<unknown> {
  const res = await fetch(`${kg.url}/api/v1/tenant/${TENANT}/${p}`, { headers: { authorization: `Bearer ${userToken}` } });
  expect(res.status).toBe(200);
  return res.json();
}

/** Creates a key with the CLI (stdout not a terminal) and returns it with its id. */
async function createKey(name: string, extra: string[] = []) {
  const run = await cli(["keys", "create", "--name", name, "--scope", "api:read", ...extra]);
  expect(run, run.stderr).toMatchObject({ code: 0, stderr: "" });
  expect(run.stdout).toMatch(JWT_LINE);
  const apiKey = run.stdout.trim();
  return { apiKey, id: decodeJwt(apiKey).key_id as string };
}

const configFile = (base: string) => path.join(base, ".config", "keygate", "config.json");

describe("keygate CLI against `npm run dev`", () => {
  it("login refuses a bad token without saving anything", async () => {
    const otherTenant = await kg.userToken(["someone-else"]);
    const foreign = await cli(["login", "--url", kg.url, "--tenant", TENANT], { input: `${otherTenant}\n` });
    expect(foreign).toMatchObject({ code: 1, stdout: "" });
    expect(foreign.stderr).toBe(
      "keygate: login refused, nothing saved: This credential may not manage API keys of this tenant (access_denied, 403)\n",
    );
    const garbage = await cli(["login", "--url", kg.url, "--tenant", TENANT, "--token", "not-a-token"]);
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toMatch(/^keygate: login refused, nothing saved: .+ \((invalid_token, 401|invalid_request, 400)\)\n$/);
    expect(() => statSync(configFile(home.home))).toThrow(/ENOENT/);
  });

  it("login reads the token from stdin, checks it, and saves url, tenant and token with mode 0600", async () => {
    // No --tenant: the token names exactly one tenant.
    const run = await cli(["login", "--url", `${kg.url}/`], { input: `${userToken}\n` });
    expect(run).toMatchObject({ code: 0, stderr: "" });
    expect(run.stdout).toBe(`Logged in to ${kg.url} for tenant ${TENANT}; saved to ${configFile(home.home)}\n`);
    const file = configFile(home.home);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(file, "utf8"))).toStrictEqual({ url: kg.url, tenant: TENANT, token: userToken });
  });

  it("keys create prints only the key when piped, and the gateway accepts it", async () => {
    const { apiKey, id } = await createKey("piped key", ["--scope", "api:write", "--expires-in-days", "7"]);
    const res = await gateway(apiKey);
    expect(res.status).toBe(200);
    expect(res.body.keygate).toMatchObject({ key_id: id, tenant: TENANT, scopes: ["api:read", "api:write"] });
    const stored = (await api(`api-keys/${id}`)) as { expires_at: number; created_at: number };
    expect(stored.expires_at - stored.created_at).toBe(7 * 86_400);
    // The use reaches last_used through the usage roll-up, after the response: let it land, so the
    // lists the next test compares are not taken on either side of it.
    const used = await eventually(
      async () => ((await api(`api-keys/${id}`)) as { last_used: number | null }).last_used,
      (lastUsed) => lastUsed !== null,
    );
    expect(used, "the gateway's use of the key reached last_used").toEqual(expect.any(Number));
  });

  it("keys list prints a table, or the API's JSON; keys get shows one key", async () => {
    const { id } = await createKey("listed key");
    const table = await cli(["keys", "list"]);
    expect(table.code).toBe(0);
    const lines = table.stdout.split("\n");
    expect(lines[0]).toMatch(/^ID +NAME +STATUS +SCOPES +CREATED +EXPIRES +LAST USED$/);
    expect(lines[1]).toMatch(new RegExp(`^${id} +listed key +active +api:read +\\d{4}-\\d\\d-\\d\\dT[\\d:]+Z +\\d{4}-.+Z +never$`));

    const json = await cli(["keys", "list", "--json"]);
    expect(JSON.parse(json.stdout)).toStrictEqual(await api("api-keys/list"));
    const limited = await cli(["keys", "list", "--limit", "1", "--json"]);
    expect(JSON.parse(limited.stdout)).toHaveLength(1);
    expect(limited.stderr).toBe("keygate: more keys than shown: add --all (or a larger --limit)\n");
    const all = await cli(["keys", "list", "--limit", "1", "--all", "--json"]);
    expect(JSON.parse(all.stdout)).toStrictEqual(await api("api-keys/list"));

    const got = await cli(["keys", "get", id, "--json"]);
    expect(JSON.parse(got.stdout)).toStrictEqual(await api(`api-keys/${id}`));
    const shown = await cli(["keys", "get", id]);
    expect(shown.stdout).toMatch(new RegExp(`^id: +${id}\nname: +listed key\nstatus: +active\nscopes: +api:read\n`));
  });

  it("keys update changes the name and metadata", async () => {
    const { id } = await createKey("to rename");
    const run = await cli(["keys", "update", id, "--name", "renamed", "--metadata", '{"team":"payments"}']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/metadata: +\{"team":"payments"\}/);
    expect(await api(`api-keys/${id}`)).toMatchObject({ name: "renamed", metadata: { team: "payments" } });
  });

  it("keys revoke: the gateway refuses the key on its next request", async () => {
    const { apiKey, id } = await createKey("to revoke");
    expect((await gateway(apiKey)).status).toBe(200);
    const run = await cli(["keys", "revoke", id, "--reason", "leaked in a build log"]);
    expect(run).toMatchObject({ code: 0, stdout: `Revoked ${id}\n`, stderr: "" });
    const refused = await gateway(apiKey);
    expect(refused.status).toBe(401);
    expect(refused.body.error_description).toBe("API key has been revoked");
    const revoked = await cli(["keys", "list", "--status", "revoked", "--json"]);
    expect((JSON.parse(revoked.stdout) as { id: string }[]).map((k) => k.id)).toContain(id);
  });

  it("keys rotate --grace-period prints the new key; the old one works until the cut-off", async () => {
    const old = await createKey("to rotate");
    const before = Math.floor(Date.now() / 1000);
    const run = await cli(["keys", "rotate", old.id, "--grace-period", "1h"]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    expect(run.stdout).toMatch(JWT_LINE);
    const next = run.stdout.trim();
    const nextId = decodeJwt(next).key_id as string;
    expect((await gateway(next)).body.keygate?.key_id).toBe(nextId);
    expect((await gateway(old.apiKey)).status).toBe(200);
    const stored = (await api(`api-keys/${old.id}`)) as { replaced_by: string; grace_period_ends_at: number };
    expect(stored.replaced_by).toBe(nextId);
    expect(stored.grace_period_ends_at).toBeGreaterThanOrEqual(before + 3600);
    expect(stored.grace_period_ends_at).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 3600);

    const cut = await cli(["keys", "rotate", nextId, "--grace-period", "0"]);
    expect(cut.code).toBe(0);
    const refused = await gateway(next);
    expect(refused.status).toBe(401);
    expect(refused.body.error_description).toBe("API key has been rotated and its grace period has ended");
    expect((await gateway(cut.stdout.trim())).status).toBe(200);

    // Rotating it again is a conflict: exit 1 with the API's words.
    const again = await cli(["keys", "rotate", nextId]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^keygate: .+ \(conflict, 409\)\n$/);
  });

  it("audit lists what happened to a key, as a table or JSON", async () => {
    const { id } = await createKey("audited");
    await cli(["keys", "revoke", id]);
    const json = await cli(["audit", "--key", id, "--json"]);
    expect(json.code).toBe(0);
    const entries = JSON.parse(json.stdout) as { action: string; outcome: string; actor_id: string }[];
    expect(entries.map((e) => [e.action, e.outcome])).toStrictEqual([
      ["revoke", "success"],
      ["create", "success"],
    ]);
    expect(JSON.parse(json.stdout)).toStrictEqual(await api(`audit-log?key_id=${id}`));

    const table = await cli(["audit", "--key", id, "--action", "revoke", "--since", "10m"]);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^TIME +ACTION +OUTCOME +STATUS +KEY +ACTOR +IP +ERROR$/);
    expect(lines.slice(1)).toHaveLength(1);
    expect(lines[1]).toMatch(new RegExp(`^\\d{4}-[\\d-]+T[\\d:]+Z +revoke +success +200 +${id} +user:user-123 `));
    const future = await cli(["audit", "--key", id, "--since", String(Math.floor(Date.now() / 1000) + 3600)]);
    expect(future.stdout).toBe("No audit entries.\n");
  });

  it("a call the API refuses exits 1 with its error_description on stderr", async () => {
    const run = await cli(["keys", "get", "key-00000000-0000-0000-0000-000000000000"]);
    expect(run).toMatchObject({ code: 1, stdout: "", stderr: "keygate: API key not found (not_found, 404)\n" });
    const badScope = await cli(["keys", "create", "--name", "x", "--scope", "no:such-scope"]);
    expect(badScope.code).toBe(1);
    expect(badScope.stderr).toBe("keygate: scopes: unknown scope(s): no:such-scope (see GET /api/v1/scopes) (invalid_request, 400)\n");
  });

  it("bad input exits 2, names the problem, and changes nothing", async () => {
    const keysBefore = await api("api-keys/list");
    const auditBefore = await api("audit-log");
    const cases: [string[], RegExp][] = [
      [["keys", "list", "--colour"], /^keygate: unknown option '--colour'/],
      [["keys", "rotate", "key-x", "--grace-period", "1 day"], /--grace-period <duration>' argument '1 day' is invalid/],
      [["keys", "rotate", "key-x", "--grace-period", "1w"], /Expected seconds, or a number with a unit: 90s, 30m, 12h, 1d/],
      [["keys", "create", "--scope", "api:read"], /^keygate: required option '--name <name>' not specified/],
      [["keys", "create", "--name", "x"], /^keygate: required option '--scope <scope>' not specified/],
      [["keys", "frobnicate"], /^keygate: unknown command 'frobnicate'/],
      [["keys", "get"], /^keygate: missing required argument 'id'/],
      [["keys"], /Usage: keygate keys/],
      [["audit", "--since", "last tuesday"], /--since <time>' argument 'last tuesday' is invalid/],
      [["keys", "list", "--url", "localhost:3000"], /^keygate: --url must be an http\(s\) URL/],
    ];
    const runs = await Promise.all(cases.map(([args]) => cli(args)));
    for (const [i, [args, message]] of cases.entries()) {
      const run = runs[i] as Awaited<ReturnType<typeof cli>>;
      expect(run.code, args.join(" ")).toBe(2);
      expect(run.stderr, args.join(" ")).toMatch(message);
      expect(run.stdout).toBe("");
    }
    const nowhere = tempHome();
    try {
      const run = await runCli(nowhere.home, ["keys", "list"]);
      expect(run).toMatchObject({ code: 2, stdout: "" });
      expect(run.stderr).toBe("keygate: no keygate URL: run `keygate login --url <base>`, set KEYGATE_URL, or pass --url\n");
    } finally {
      nowhere.remove();
    }
    expect(await api("api-keys/list")).toStrictEqual(keysBefore);
    expect(await api("audit-log")).toStrictEqual(auditBefore);
  });

  it("KEYGATE_URL, KEYGATE_TENANT and KEYGATE_TOKEN work without a login and override it", async () => {
    const ci = tempHome();
    try {
      const env = { KEYGATE_URL: kg.url, KEYGATE_TENANT: TENANT, KEYGATE_TOKEN: userToken };
      const { id } = await createKey("env key");
      const run = await runCli(ci.home, ["keys", "get", id, "--json"], { env });
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ id, name: "env key" });
    } finally {
      ci.remove();
    }
    // Over the saved login: the environment wins, and a flag wins over the environment.
    const badToken = await cli(["keys", "list"], { env: { KEYGATE_TOKEN: "not-a-token" } });
    expect(badToken.code).toBe(1);
    const otherTenant = await cli(["keys", "list"], { env: { KEYGATE_TENANT: "someone-else" } });
    expect(otherTenant.stderr).toMatch(/\(access_denied, 403\)/);
    const flagWins = await cli(["keys", "list", "--tenant", TENANT, "--json"], { env: { KEYGATE_TENANT: "someone-else" } });
    expect(flagWins.code).toBe(0);
  });

  it("login honours XDG_CONFIG_HOME", async () => {
    const xdg = tempHome();
    try {
      const run = await runCli(xdg.home, ["login", "--url", kg.url, "--tenant", TENANT, "--token", userToken], {
        env: { XDG_CONFIG_HOME: path.join(xdg.home, "xdg") },
      });
      expect(run.code).toBe(0);
      const file = path.join(xdg.home, "xdg", "keygate", "config.json");
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(() => statSync(configFile(xdg.home))).toThrow(/ENOENT/);
    } finally {
      xdg.remove();
    }
  });

  it("on a terminal, create and rotate print a summary that warns the key is shown only once", async () => {
    const run = await runCliOnTerminal(home.home, ["keys", "create", "--name", "terminal key", "--scope", "api:read"], {
      env: { NO_COLOR: "1" },
    });
    expect(run.code).toBe(0);
    const out = run.stdout.replace(/\r\n/g, "\n");
    expect(out).not.toContain("\x1b[");
    expect(out).toMatch(/^Created API key "terminal key"\nid: +key-[\w-]+\nscopes: +api:read\nexpires: +\S+Z \(in 90 days\)\n\n/);
    expect(out).toContain("\nCopy this key now: it will not be shown again.\n");
    const apiKey = out.split("\n").find((line) => JWT_LINE.test(`${line}\n`)) ?? "";
    const id = decodeJwt(apiKey).key_id as string;
    expect(out).toContain(`id:       ${id}`);
    expect((await gateway(apiKey)).status).toBe(200);

    // Colour on a terminal unless NO_COLOR is set; the key itself stays plain.
    const rotated = await runCliOnTerminal(home.home, ["keys", "rotate", id, "--grace-period", "30m"]);
    expect(rotated.code).toBe(0);
    const rotatedOut = rotated.stdout.replace(/\r\n/g, "\n");
    expect(rotatedOut).toContain("\x1b[32mRotated to\x1b[39m API key");
    expect(rotatedOut).toMatch(new RegExp(`replaces:.* +${id} \\(works for 30 minutes more, until \\S+Z\\)`));
    const next = rotatedOut.split("\n").find((line) => JWT_LINE.test(`${line}\n`)) ?? "";
    expect((await gateway(next)).status).toBe(200);
  });

  it("scopes lists the catalog without a token", async () => {
    const anonymous = tempHome();
    try {
      const run = await runCli(anonymous.home, ["scopes", "--url", kg.url]);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^SCOPE +DESCRIPTION\n/);
      expect(run.stdout).toMatch(/\napi:read +Read API resources\n/);
      const json = await runCli(anonymous.home, ["--json", "scopes"], { env: { KEYGATE_URL: kg.url } });
      expect(JSON.parse(json.stdout)).toStrictEqual(await (await fetch(`${kg.url}/api/v1/scopes`)).json());
    } finally {
      anonymous.remove();
    }
  });

  it("--help works on every command", async () => {
    const cases = [["--help"], ["keys", "--help"], ["keys", "rotate", "--help"], ["webhooks", "create", "--help"], ["help", "audit"]];
    const runs = await Promise.all(cases.map((args) => cli(args)));
    for (const [i, args] of cases.entries()) {
      const run = runs[i] as Awaited<ReturnType<typeof cli>>;
      expect(run.code, args.join(" ")).toBe(0);
      expect(run.stdout).toMatch(/^Usage: keygate/);
    }
  });

  it("logout forgets the saved login", async () => {
    const run = await cli(["logout"]);
    expect(run).toMatchObject({ code: 0, stdout: `Logged out: removed ${configFile(home.home)}\n` });
    expect(() => statSync(configFile(home.home))).toThrow(/ENOENT/);
    expect((await cli(["keys", "list"])).code).toBe(2);
  });
});

/** Rate limits, IP allowlists, usage, alerts and webhooks through the CLI. */
describe("keygate CLI: limits, usage, alerts and webhooks", () => {
  /** Retries `check` until it passes or 10 s are up (usage is recorded after the response). */
  async function untilPasses(check: () => Promise<void>) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        return await check();
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }
  beforeAll(async () => {
    // The block above ends with a logout.
    expect((await cli(["login", "--url", kg.url, "--tenant", TENANT, "--token", userToken])).code).toBe(0);
  });

  it("--rate-limit and --allow-ip reach the gateway; update clears them", async () => {
    const limited = await createKey("limited", ["--rate-limit", "burst=2/1m"]);
    const shown = await cli(["keys", "get", limited.id, "--json"]);
    expect(JSON.parse(shown.stdout)).toMatchObject({ rate_limits: [{ name: "burst", limit: 2, window_seconds: 60 }] });
    expect((await gateway(limited.apiKey)).status).toBe(200);
    expect((await gateway(limited.apiKey)).status).toBe(200);
    const third = await gateway(limited.apiKey);
    expect(third.status).toBe(429);

    const fenced = await createKey("fenced", ["--allow-ip", "203.0.113.7"]);
    const refused = await gateway(fenced.apiKey);
    expect(refused.status).toBe(403);
    expect(refused.body.error_description).toBe("API key may not be used from this IP address");
    const cleared = await cli(["keys", "update", fenced.id, "--clear-allowed-ips", "--json"]);
    expect(cleared.code).toBe(0);
    expect(JSON.parse(cleared.stdout)).not.toHaveProperty("allowed_ips");
    await untilPasses(async () => expect((await gateway(fenced.apiKey)).status).toBe(200));
  });

  it("usage and keys ips show the key's traffic", async () => {
    const { apiKey, id } = await createKey("measured");
    for (let i = 0; i < 3; i++) expect((await gateway(apiKey)).status).toBe(200);
    await untilPasses(async () => {
      const run = await cli(["usage", id, "--from", "1h", "--granularity", "minute", "--json"]);
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ key_id: id, granularity: "minute", totals: { total: 3, outcomes: { accepted: 3 } } });
    });
    const table = await cli(["usage", id]);
    expect(table.stdout).toMatch(/\ntotal +3 +3\n/);
    const tenant = await cli(["usage", "--json"]);
    expect((JSON.parse(tenant.stdout) as { keys: { key_id: string }[] }).keys.map((k) => k.key_id)).toContain(id);
    const ips = await cli(["keys", "ips", id, "--json"]);
    expect(JSON.parse(ips.stdout)).toMatchObject([{ ip: "127.0.0.1", count: 3 }]);
  });

  it("alerts settings, list and ack", async () => {
    const set = await cli(["alerts", "settings", "--set", "volume_per_hour=500", "--set", "new_ip=false", "--json"]);
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ volume_per_hour: 500, new_ip: false });
    const shown = await cli(["alerts", "settings"]);
    expect(shown.stdout).toMatch(/volume_per_hour: +500\n/);
    const list = await cli(["alerts", "list", "--since", "1d", "--json"]);
    expect(list.code).toBe(0);
    expect(Array.isArray(JSON.parse(list.stdout))).toBe(true);
    const unknown = await cli(["alerts", "ack", "alert-does-not-exist"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/\(not_found, 404\)\n$/);
    const badSetting = await cli(["alerts", "settings", "--set", "no_such_setting=1"]);
    expect(badSetting.code).toBe(1);
    expect(badSetting.stderr).toMatch(/no_such_setting.*\(invalid_request, 400\)/);
  });

  it("webhooks create (secret printed once), list, test, deliveries, delete", async () => {
    // npm run dev allows a receiver on loopback; nothing listens there, which this test does not need.
    const hookUrl = "http://127.0.0.1:9/keygate";
    const created = await cli(["webhooks", "create", "--url", hookUrl, "--event", "key.created,key.revoked"]);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^whsec_\S+\n$/);
    const list = await cli(["webhooks", "list", "--json"]);
    const hook = (JSON.parse(list.stdout) as { id: string; url: string; events: string[] }[]).find((h) => h.url === hookUrl);
    expect(hook).toMatchObject({ events: ["key.created", "key.revoked"] });
    expect(JSON.stringify(JSON.parse(list.stdout))).not.toContain("whsec_");
    const id = hook?.id ?? "";
    const test = await cli(["webhooks", "test", id, "--json"]);
    expect(JSON.parse(test.stdout)).toMatchObject({ event_id: expect.stringMatching(/^evt-/) });
    const deliveries = await cli(["webhooks", "deliveries", id, "--json"]);
    expect(deliveries.code).toBe(0);
    expect(Array.isArray(JSON.parse(deliveries.stdout))).toBe(true);
    const deleted = await cli(["webhooks", "delete", id]);
    expect(deleted).toMatchObject({ code: 0, stdout: `Deleted ${id}\n` });
    const after = await cli(["webhooks", "list", "--json"]);
    expect((JSON.parse(after.stdout) as { id: string }[]).map((h) => h.id)).not.toContain(id);
  });
});
