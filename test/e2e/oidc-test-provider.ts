/**
 * A real OpenID provider on loopback for the console's sign-in tests: panva's oidc-provider with
 * its development login and consent pages, PKCE (S256) required, JWT access tokens for one
 * resource (RFC 8707 resource indicators) carrying a tenants claim, and CORS for the console's
 * origin only on its token endpoint.
 */
import { randomBytes } from "node:crypto";
import type { Server } from "node:http";
import Provider, { errors } from "oidc-provider";
import { newRsaPrivateJwk } from "../../scripts/lib/keys.mjs";

export interface OidcTestProvider {
  issuer: string;
  jwksUri: string;
  stop(): Promise<void>;
}

export interface OidcTestProviderOptions {
  port: number;
  clientId: string;
  /** Where the console runs: its callback is the only redirect URI, its origin the only CORS origin. */
  consoleOrigin: string;
  /** The resource indicator keygate's USER_TOKEN_AUDIENCE names. */
  resource: string;
  /** Scope of the resource server that the console asks for. */
  scope: string;
  tenants: string[];
}

export async function startOidcTestProvider(options: OidcTestProviderOptions): Promise<OidcTestProvider> {
  const issuer = `http://127.0.0.1:${options.port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: options.clientId,
        token_endpoint_auth_method: "none",
        redirect_uris: [`${options.consoleOrigin}/console/callback`],
        grant_types: ["authorization_code"],
        response_types: ["code"],
      },
    ],
    jwks: { keys: [newRsaPrivateJwk("op") as never] },
    cookies: { keys: [randomBytes(16).toString("hex")] },
    pkce: { methods: ["S256"], required: () => true },
    ttl: { AccessToken: 3600, IdToken: 600, Grant: 3600, Interaction: 600, Session: 3600, AuthorizationCode: 60 },
    scopes: ["openid", options.scope],
    clientBasedCORS: (_ctx, origin) => origin === options.consoleOrigin,
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    extraTokenClaims: async () => ({ tenants: options.tenants }),
    features: {
      devInteractions: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => options.resource,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, indicator) => {
          if (indicator !== options.resource) throw new errors.InvalidTarget();
          return {
            scope: options.scope,
            audience: options.resource,
            accessTokenFormat: "jwt",
            accessTokenTTL: 3600,
            jwt: { sign: { alg: "RS256" } },
          };
        },
      },
    },
  });
  // Its warnings about the in-memory adapter and development interactions are expected here.
  provider.on("server_error", (_ctx, err) => console.error("oidc-provider:", err));
  const server: Server = await new Promise((resolve) => {
    const s = provider.listen(options.port, "127.0.0.1", () => resolve(s));
  });
  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
