// The config table (src/config/vars.ts) against what restates it: wrangler.toml [vars] and its
// AUTH_FAILURES binding, the Env interface (src/env.ts), and docs/configuration.md's generated table.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readWranglerConfig } from "../../bench/lib/bundle.mjs";
import { CONFIG_DOC, withConfigTable } from "../../scripts/config-docs.mjs";
import { VARS, type VarName, type VarSpec } from "../../src/config/vars";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const TABLE: Readonly<Record<string, VarSpec>> = VARS;

const wrangler = await readWranglerConfig();
const wranglerToml = readFileSync(path.join(ROOT, "wrangler.toml"), "utf8");

/** wrangler.toml's value as the worker's parsers read it: text for plain vars, JSON for tables and arrays. */
function asDefault(spec: VarSpec, value: unknown): unknown {
  if (spec.type === "integer") return Number(value);
  if (spec.type === "boolean") return value === "true" || value === "1";
  return value;
}

describe("the config table", () => {
  it("declares every var wrangler.toml sets, none of them a secret, with the table's default where it has one", () => {
    expect(Object.keys(wrangler.vars).length).toBeGreaterThan(5);
    for (const [name, value] of Object.entries(wrangler.vars)) {
      const spec = TABLE[name];
      expect(spec, `${name} is in wrangler.toml [vars] but not in src/config/vars.ts`).toBeDefined();
      if (!spec) continue;
      expect(spec.kind, `${name} is a secret: it must not be in wrangler.toml`).not.toBe("secret");
      if (spec.default !== undefined && !spec.sampleInWrangler) {
        expect(asDefault(spec, value), `wrangler.toml's ${name}`).toEqual(spec.default);
      }
    }
  });

  it("gives every var a type its readers accept: integers a minimum, enums values that hold the default", () => {
    for (const [name, spec] of Object.entries(TABLE)) {
      if (spec.type === "integer") expect(typeof spec.min === "number" && typeof spec.default === "number", name).toBe(true);
      if (spec.type === "enum") expect(spec.values?.includes(spec.default as string), name).toBe(true);
      if (spec.type === "boolean") expect(typeof spec.default, name).toBe("boolean");
    }
  });

  it("sets the AUTH_FAILURES binding's limit to AUTH_FAILURE_LIMIT's default, per 60 s", () => {
    const binding = wrangler.ratelimits.find((r) => r.name === "AUTH_FAILURES");
    expect(binding?.simple).toEqual({ limit: VARS.AUTH_FAILURE_LIMIT.default, period: 60 });
  });

  it("is where Env's vars come from: src/env.ts declares bindings of wrangler.toml only", () => {
    const source = readFileSync(path.join(ROOT, "src", "env.ts"), "utf8");
    const body = /export interface Env extends EnvVars \{([\s\S]*?)\n\}/.exec(source)?.[1];
    expect(body, "src/env.ts: `export interface Env extends EnvVars { ... }`").toBeDefined();
    const members = [...(body ?? "").matchAll(/^\s*([A-Z][A-Z0-9_]*)\??:/gm)].map((m) => m[1] as string);
    const bindings = new Set([
      ...wrangler.d1_databases.map((b) => b.binding),
      ...wrangler.kv_namespaces.map((b) => b.binding),
      ...wrangler.durable_objects.map((b) => b.name),
      ...(wrangler.queues.producers ?? []).map((b) => b.binding),
      ...wrangler.ratelimits.map((b) => b.name),
      ...(/\[assets\][^[]*?\bbinding\s*=\s*"(\w+)"/.exec(wranglerToml)?.slice(1, 2) ?? []),
    ]);
    expect(members.length).toBeGreaterThan(5);
    for (const name of members) {
      expect(name in VARS, `src/env.ts declares ${name} by hand: add it to src/config/vars.ts`).toBe(false);
      expect(bindings.has(name), `src/env.ts declares ${name}, which wrangler.toml does not bind`).toBe(true);
    }
    expect([...bindings].sort()).toEqual([...members].sort());
  });

  it("is what docs/configuration.md's table says (npm run docs:config)", () => {
    const doc = readFileSync(CONFIG_DOC, "utf8");
    expect(withConfigTable(doc)).toBe(doc);
    for (const name of Object.keys(VARS) as VarName[]) expect(doc).toContain(`\`${name}\``);
  });
});
