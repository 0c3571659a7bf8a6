/** USER_TOKEN_DEFAULT_ROLE's values in the config table are the roles vocabulary's (the table is a leaf: it cannot import them). */
import { describe, expect, it } from "vitest";
import { VARS } from "../../src/config/vars";
import { DEFAULT_ROLE_SETTINGS } from "../../src/vocab/roles.mjs";

describe("USER_TOKEN_DEFAULT_ROLE", () => {
  it("accepts exactly the roles and none, and defaults to admin", () => {
    expect([...VARS.USER_TOKEN_DEFAULT_ROLE.values]).toEqual([...DEFAULT_ROLE_SETTINGS]);
    expect(VARS.USER_TOKEN_DEFAULT_ROLE.default).toBe("admin");
  });
});
