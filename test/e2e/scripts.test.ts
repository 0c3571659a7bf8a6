/** The developer scripts README and docs/ tell a user to run: signing-key rotation, dev user tokens, the bench's config reader. */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import { readWranglerConfig } from "../../bench/lib/bundle.mjs";
import { ensureDevKeys } from "../../scripts/lib/dev-state.mjs";
import { newDevKeyMaterial, publicJwk } from "../../scripts/lib/keys.mjs";

const exec = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "..", "..");
const dir = mkdtempSync(path.join(tmpdir(), "keygate-scripts-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function keys(args: string[]): Promise<{ keys: { kid: string; d?: string }[] }> {
  const { stdout } = await exec(process.execPath, [path.join(ROOT, "scripts", "signing-keys.mjs"), ...args]);
  return JSON.parse(stdout);
}

describe("npm run keys:*", () => {
  it("adds, promotes and retires signing keys", async () => {
    const file = path.join(dir, "set.json");
    writeFileSync(file, newDevKeyMaterial().SIGNING_KEYS);
    const { stdout: listed } = await exec(process.execPath, [path.join(ROOT, "scripts", "signing-keys.mjs"), "list", "--from", file]);
    expect(listed).toMatch(/^kg-\S+ {2}\(signing\)\n$/);

    const added = await keys(["new", "--from", file]);
    expect(added.keys).toHaveLength(2);
    expect(added.keys.every((k) => typeof k.d === "string")).toBe(true);
    const [first, second] = added.keys as [{ kid: string }, { kid: string }];
    writeFileSync(file, JSON.stringify(added));

    const promoted = await keys(["promote", second.kid, "--from", file]);
    expect(promoted.keys.map((k) => k.kid)).toEqual([second.kid, first.kid]);
    writeFileSync(file, JSON.stringify(promoted));

    await expect(
      exec(process.execPath, [path.join(ROOT, "scripts", "signing-keys.mjs"), "retire", second.kid, "--from", file]),
    ).rejects.toMatchObject({
      stderr: expect.stringMatching(/promote another key first/),
    });
    const retired = await keys(["retire", first.kid, "--from", file]);
    expect(retired.keys.map((k) => k.kid)).toEqual([second.kid]);
  });

  it("makes identity-assertion keys (Ed25519) with --identity, starting from an empty set", async () => {
    const file = path.join(dir, "identity.json");
    writeFileSync(file, '{"keys":[]}');
    const made = (await keys(["new", "--identity", "--from", file])) as { keys: Record<string, string>[] };
    expect(made.keys).toHaveLength(1);
    expect(made.keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig", kid: expect.stringMatching(/^kg-id-/) });
    expect(typeof made.keys[0]?.d).toBe("string");
  });
});

describe("npm run token", () => {
  it("prints only a user access token with the tenants and subject asked for", async () => {
    const material = newDevKeyMaterial();
    const idp = path.join(dir, "idp.json");
    writeFileSync(idp, JSON.stringify(material.idpPrivateJwk));
    const { stdout } = await exec(process.execPath, [
      path.join(ROOT, "scripts", "token.mjs"),
      "--idp-key",
      idp,
      "--tenant",
      "my-tenant",
      "--tenant",
      "b",
      "--sub",
      "user-123",
    ]);
    expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const token = stdout.trim();
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: "RS256", kid: material.idpPrivateJwk.kid });
    const { payload } = await jwtVerify(token, await importJWK(publicJwk(material.idpPrivateJwk), "RS256"), {
      issuer: "keygate-dev-idp",
      audience: "keygate",
    });
    expect(payload).toMatchObject({ sub: "user-123", tenants: ["my-tenant", "b"] });
    expect((decodeJwt(token).exp as number) - (decodeJwt(token).iat as number)).toBe(43_200);
  });
});

describe("npm run bench / npm run soak", () => {
  it("read wrangler.toml in a checkout where `npm run dev` has run (.dev.vars present, wrangler talks on stdout)", async () => {
    // What `npm run dev` does first; .dev.vars is git-ignored and kept as it is when it exists.
    ensureDevKeys();
    expect(existsSync(path.join(ROOT, ".dev.vars"))).toBe(true);
    const config = await readWranglerConfig();
    expect(config).toMatchObject({ name: "keygate", compatibility_date: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/) });
    expect(config.migrations.length).toBeGreaterThan(0);
  });
});
