import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { ensureConsoleBuilt } from "./scripts/build-console.mjs";
import { newDevKeyMaterial, newGitHubScanningKey, newRsaPrivateJwk } from "./scripts/lib/keys.mjs";

// wrangler.toml's [assets] directory must exist before the workerd pool or any `wrangler dev`
// starts; a fresh clone has no console build yet (it is git-ignored).
if (ensureConsoleBuilt({ quiet: true })) console.error("keygate: built the console (console/build)");

// Fresh key material for every run: nothing private is committed, and tests sign their own
// user tokens (TEST_IDP_PRIVATE_JWK), forged keys (TEST_ROGUE_PRIVATE_JWK) and GitHub secret
// scanning payloads (TEST_GITHUB_PRIVATE_JWK, whose public half is GITHUB_SECRET_SCANNING_KEYS).
const keys = newDevKeyMaterial();
const github = newGitHubScanningKey();
const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            // The worker behind production limits on its bindings (test/helpers/platform-limits.ts).
            main: "./test/helpers/limited-entry.ts",
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                SIGNING_KEYS: keys.SIGNING_KEYS,
                // Signs identity assertions in the tests that set IDENTITY_ASSERTION = "jwt" (off by default).
                IDENTITY_ASSERTION_KEYS: keys.IDENTITY_ASSERTION_KEYS,
                GITHUB_SECRET_SCANNING_KEYS: github.GITHUB_SECRET_SCANNING_KEYS,
                USER_TOKEN_JWKS: keys.USER_TOKEN_JWKS,
                ORIGIN_URL: inject("originUrl"),
                ORIGIN_TIMEOUT_MS: "1500",
                // Usage batches go out at once, so a test's waitOnExecutionContext does not wait a second.
                USAGE_FLUSH_MS: "0",
                // Each queue batch is rolled up at once; test/usage/aggregator.test.ts runs the aggregator shards.
                USAGE_AGGREGATE_SECONDS: "0",
                // Webhook receivers in tests listen on 127.0.0.1; names resolve through the test origin.
                WEBHOOK_ALLOW_INSECURE_LOOPBACK: "true",
                WEBHOOK_DNS_RESOLVER: `${inject("originUrl")}/dns-query`,
                WEBHOOK_RETRY_BASE_SECONDS: "0",
                TEST_MIGRATIONS: migrations,
                TEST_IDP_PRIVATE_JWK: keys.idpPrivateJwk,
                TEST_ROGUE_PRIVATE_JWK: newRsaPrivateJwk("rogue"),
                // An EC P-256 JWK: string members only (the bindings' Json type has no room for RSA `oth`).
                TEST_GITHUB_PRIVATE_JWK: { ...(github.privateJwk as unknown as Record<string, string>), kid: github.keyIdentifier },
              },
            },
          })),
        ],
        test: {
          name: "workers",
          // Each file boots its own isolate (seconds of module loading): two at a time on two cores.
          maxWorkers: 2,
          // Ceilings, not waits: tests wait for conditions (test/helpers/eventually.ts), and on a loaded
          // CI machine a test that takes 2 s idle can take 20.
          testTimeout: 60_000,
          hookTimeout: 60_000,
          include: ["test/**/*.test.ts"],
          exclude: ["test/e2e/**"],
          globalSetup: ["./test/global-setup.ts"],
          setupFiles: ["./test/apply-migrations.ts"],
          // workerd tests first, then the e2e servers (different worker counts need their own group).
          sequence: { groupOrder: 0 },
        },
      },
      {
        // The console's own logic (PKCE, sign-in, session, API errors, table, chart data) in Node.
        test: {
          name: "console",
          include: ["console/test/**/*.test.ts"],
          environment: "node",
          testTimeout: 30_000,
          // The same group as the workerd tests, so the same worker count.
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          // Ceilings for a loaded machine: a dev server that starts in 10 s idle can take a minute.
          testTimeout: 180_000,
          hookTimeout: 180_000,
          // expect.poll waits for the console to show what the API did (default: 1 s).
          expect: { poll: { timeout: 30_000 } },
          // Each file starts its own `wrangler dev`; two at a time fit two cores.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
