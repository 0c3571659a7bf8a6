/**
 * The CLI's quota and limit-group commands end to end (issue 19): the real executable against the
 * real dev server and the demo origin. A key made with --quota and --limit-group is refused by the
 * gateway once the group's quota is used up, a credit lets it through again, and the group is
 * listed, shown, changed and deleted.
 */
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, tempHome } from "./cli-helpers";
import { type Keygate, startKeygate } from "./harness";

const TENANT = "cli-quotas";
const GROUP_ID = /^grp-[0-9a-f-]{36}$/;

let kg: Keygate;
let env: Record<string, string>;
const home = tempHome();

beforeAll(async () => {
  kg = await startKeygate({ vars: { REVOCATION_CACHE_TTL_SECONDS: "0" } });
  env = { KEYGATE_URL: kg.url, KEYGATE_TENANT: TENANT, KEYGATE_TOKEN: await kg.userToken([TENANT]) };
});

afterAll(async () => {
  await kg?.stop();
  home.remove();
});

function cli(args: string[]) {
  return runCli(home.home, args, { env });
}

async function gateway(apiKey: string): Promise<number> {
  const res = await fetch(`${kg.url}/api/v1/protected-resource`, { headers: { authorization: `Bearer ${apiKey}` } });
  await res.arrayBuffer();
  return res.status;
}

describe("keygate CLI: quotas and limit groups", () => {
  it("limit-groups create, keys create --quota --limit-group, the gateway's refusal, keys credit, limit-groups get/update/delete", async () => {
    const created = await cli(["limit-groups", "create", "--name", "Acme", "--quota", "3/month", "--rate-limit", "burst=100/60s"]);
    expect(created, created.stderr).toMatchObject({ code: 0, stderr: "" });
    const group = created.stdout.trim();
    expect(group).toMatch(GROUP_ID);

    const made = await cli(["keys", "create", "--name", "metered", "--scope", "api:read", "--quota", "2/day", "--limit-group", group]);
    expect(made, made.stderr).toMatchObject({ code: 0, stderr: "" });
    const apiKey = made.stdout.trim();
    const id = decodeJwt(apiKey).key_id as string;

    const shown = await cli(["keys", "get", id]);
    expect(shown.stdout).toMatch(/quota: +2\/day, 2 left, resets \d{4}-\d\d-\d\dT/);
    expect(shown.stdout).toContain(group);

    expect([await gateway(apiKey), await gateway(apiKey), await gateway(apiKey)]).toEqual([200, 200, 429]);

    const credited = await cli(["keys", "credit", id, "--amount", "5"]);
    expect(credited, credited.stderr).toMatchObject({ code: 0, stderr: "" });
    expect(credited.stdout).toMatch(new RegExp(`^Credited 5 calls to ${id}: quota 2/day, 5 left \\(5 credited\\)`));
    await new Promise((r) => setTimeout(r, 1_100));
    // The key's own quota has room now; the group's (3) has one call left.
    expect([await gateway(apiKey), await gateway(apiKey)]).toEqual([200, 429]);

    const got = await cli(["limit-groups", "get", group]);
    expect(got.stdout).toMatch(/quota: +3\/month, 0 left/);
    expect(got.stdout).toContain(`${id} (metered)`);
    const usage = await cli(["usage", group, "--json"]);
    expect(usage, usage.stderr).toMatchObject({ code: 0 });
    expect(JSON.parse(usage.stdout)).toMatchObject({ limit_group: group, granularity: "hour" });
    const listed = await cli(["limit-groups", "list", "--json"]);
    expect((JSON.parse(listed.stdout) as { id: string }[]).map((g) => g.id)).toContain(group);

    const bad = await cli(["limit-groups", "update", group, "--quota", "10/week"]);
    expect(bad.code).toBe(2);
    const updated = await cli(["limit-groups", "update", group, "--clear-quota"]);
    expect(updated, updated.stderr).toMatchObject({ code: 0 });
    expect(updated.stdout).toMatch(/quota: +none/);

    const refused = await cli(["limit-groups", "delete", group]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/still has keys.*\(conflict, 409\)/);
    const deleted = await cli(["limit-groups", "delete", group, "--detach"]);
    expect(deleted).toMatchObject({ code: 0, stdout: `Deleted ${group} (1 key(s) left it)\n` });
  });
});
