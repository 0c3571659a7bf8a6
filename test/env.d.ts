import type { D1Migration } from "cloudflare:test";
import type { Env as WorkerEnv } from "../src/env";

declare global {
  namespace Cloudflare {
    interface GlobalProps {
      mainModule: typeof import("./helpers/limited-entry");
    }
    interface Env extends WorkerEnv {
      TEST_MIGRATIONS: D1Migration[];
      TEST_IDP_PRIVATE_JWK: JsonWebKey & { kid: string };
      TEST_ROGUE_PRIVATE_JWK: JsonWebKey & { kid: string };
      /** GitHub secret scanning's stand-in signing key (P-256); `kid` is its key_identifier. */
      TEST_GITHUB_PRIVATE_JWK: JsonWebKey & { kid: string };
    }
  }
}
