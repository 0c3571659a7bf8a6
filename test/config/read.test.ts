/**
 * The config layer's readers (src/config/read.ts) against the table (src/config/vars.ts): an unset
 * var takes the table's default, a set one is checked against the table's bounds and values, and
 * each refusal names the var and what it accepts.
 */
import { describe, expect, it } from "vitest";
import { booleanVar, enumVar, integerVar, perEnv } from "../../src/config/read";
import { VARS } from "../../src/config/vars";
import type { Env } from "../../src/env";

const env = (vars: Record<string, unknown>) => vars as unknown as Env;

describe("the config readers", () => {
  it("an unset or empty var takes the table's default", () => {
    expect(integerVar(env({}), "USAGE_AGGREGATE_SECONDS")).toBe(VARS.USAGE_AGGREGATE_SECONDS.default);
    expect(integerVar(env({ USAGE_AGGREGATOR_SHARDS: "" }), "USAGE_AGGREGATOR_SHARDS")).toBe(VARS.USAGE_AGGREGATOR_SHARDS.default);
    expect(enumVar(env({}), "PATH_NORMALIZATION")).toBe(VARS.PATH_NORMALIZATION.default);
  });

  it("integers within the table's bounds pass; outside them the error names the var and the range", () => {
    expect(integerVar(env({ USAGE_AGGREGATE_SECONDS: "0" }), "USAGE_AGGREGATE_SECONDS")).toBe(0);
    expect(integerVar(env({ USAGE_AGGREGATE_SECONDS: "3600" }), "USAGE_AGGREGATE_SECONDS")).toBe(3600);
    for (const bad of ["3601", "-1", "1.5", "ten", "1e3x"]) {
      expect(() => integerVar(env({ USAGE_AGGREGATE_SECONDS: bad }), "USAGE_AGGREGATE_SECONDS")).toThrow(
        `USAGE_AGGREGATE_SECONDS must be an integer from 0 to 3600, got ${JSON.stringify(bad)}`,
      );
    }
    expect(() => integerVar(env({ AUTH_FAILURE_LIMIT: "0" }), "AUTH_FAILURE_LIMIT")).toThrow(/AUTH_FAILURE_LIMIT must be an integer >= 1/);
  });

  it("booleans and enums accept only their spellings", () => {
    expect(booleanVar(env({ FORWARD_AUTHORIZATION: "false" }), "FORWARD_AUTHORIZATION")).toBe(false);
    expect(() => booleanVar(env({ FORWARD_AUTHORIZATION: "no" }), "FORWARD_AUTHORIZATION")).toThrow(
      /FORWARD_AUTHORIZATION must be "true" or "false"/,
    );
    expect(() => enumVar(env({ PATH_NORMALIZATION: "lenient" }), "PATH_NORMALIZATION")).toThrow(/PATH_NORMALIZATION/);
  });

  it("perEnv parses once per env object", () => {
    let parses = 0;
    const read = perEnv((e: Env) => {
      parses++;
      return integerVar(e, "USAGE_FLUSH_MS");
    });
    const a = env({ USAGE_FLUSH_MS: "5" });
    expect([read(a), read(a), read(env({}))]).toEqual([5, 5, VARS.USAGE_FLUSH_MS.default]);
    expect(parses).toBe(2);
  });
});
