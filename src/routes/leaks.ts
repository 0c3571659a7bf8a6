/**
 * Leak reports as route-table entries: GitHub secret scanning's partner endpoint (signed by GitHub,
 * answered in its feedback format) and an anonymous report endpoint for anyone who finds a key.
 * Both hand live keys to src/leaks/act.ts, the one place a leak is acted on.
 */
import * as z from "zod/mini";
import { recordAuthFailure, throttledFor } from "../abuse/auth-failures";
import { abuseConfig } from "../abuse/config";
import type { LeakReportActor } from "../audit/entry";
import { ApiError } from "../errors";
import { requestClient } from "../http/client";
import { jsonResponse } from "../http/responses";
import { tokenField, typeError } from "../http/validate";
import { actOnLeakedKeys } from "../leaks/act";
import { findLeakedKeys } from "../leaks/find";
import { NO_CONTROL_CHARACTERS } from "../lib/control-characters";
import { escapeControlCharacters } from "../lib/escape-control-characters";
import { clientNetwork } from "../lib/ip";
import { serviceDeps } from "./deps";
import { type AppContext, gitHubSignedRoute, publicRoute } from "./spec";

/** GitHub batches its findings; 4 MiB holds about 4,000 keygate keys with their URLs. */
const GITHUB_MAX_BODY_BYTES = 4 * 1024 * 1024;
const GITHUB_MAX_TOKENS = 5000;
/** The token type keygate registers with GitHub, answered when a finding names none. */
export const GITHUB_TOKEN_TYPE = "keygate_api_key";
const URL_MAX_LENGTH = 2048;

const gitHubFinding = z.looseObject({
  token: z.string(typeError("token", "token must be a string")),
  type: z.optional(z.string({ error: "type must be a string" })),
  url: z.optional(z.string({ error: "url must be a string" })),
  source: z.optional(z.string({ error: "source must be a string" })),
});
const gitHubBatch = z
  .array(gitHubFinding, { error: "the request body must be a JSON array of {token, type, url, source}" })
  .check(z.maxLength(GITHUB_MAX_TOKENS, `a batch may hold at most ${GITHUB_MAX_TOKENS} tokens`));

const gitHubFeedback = z.array(
  z.strictObject({ token_raw: z.string(), token_type: z.string(), label: z.enum(["true_positive", "false_positive"]) }),
);

const reportBody = z.strictObject(
  {
    token: tokenField("The key you found."),
    url: z
      .string(typeError("url", "url must be a string"))
      .check(
        z.minLength(1, "url must not be empty"),
        z.maxLength(URL_MAX_LENGTH, `url must be at most ${URL_MAX_LENGTH} characters`),
        z.regex(NO_CONTROL_CHARACTERS, "url must not contain control characters"),
        z.describe("Where you found it."),
      ),
  },
  { error: "the request body must be a JSON object {token, url}" },
);

/** The one answer to every accepted report, whatever the token: it reveals nothing. */
export const REPORT_RECEIVED = {
  message: "Thank you. If this is a live key of this keygate deployment, its owner's leak policy has been applied.",
} as const;

function leakReportActorOf(c: AppContext, reporter: string, status: number, now: number): LeakReportActor {
  return {
    reporter,
    ...requestClient(c.req.raw.headers),
    status,
    now,
  };
}

/**
 * Reports share the brute-force throttle's machinery (src/abuse/auth-failures.ts: exact per
 * isolate, plus the AUTH_FAILURES binding per location) under their own key, `report:<ip>`: every
 * report counts, whatever its token, so being throttled says nothing about any token, and a
 * reporter's budget is separate from its failed authentications.
 */
function throttleReport(c: AppContext, nowMs: number): void {
  const ip = c.req.header("cf-connecting-ip");
  if (ip === undefined) return;
  const client = `report:${clientNetwork(ip)}`;
  const retryAfter =
    throttledFor(client, nowMs) ||
    recordAuthFailure(client, abuseConfig(c.env).authFailureLimit, c.env.AUTH_FAILURES, c.executionCtx, nowMs);
  if (retryAfter > 0)
    throw new ApiError("rate_limited", "Too many leak reports from this client", { headers: { "retry-after": String(retryAfter) } });
}

export const leakRoutes = [
  gitHubSignedRoute({
    method: "POST",
    path: "/api/v1/leaks/github",
    operationId: "reportGitHubSecretScanning",
    summary: "GitHub secret scanning partner endpoint",
    description:
      "GitHub POSTs the keygate keys it found in public content, signed with its secret scanning key. Each live key is acted on at once by its tenant's `leak_action` (revoke by default) and audited; the answer labels every token: `true_positive` for a key this deployment issued (live or not), `false_positive` for anything else.",
    tag: "Leaks",
    credential: "github-signature",
    role: "public",
    body: {
      schema: () => gitHubBatch,
      required: true,
      maxBytes: GITHUB_MAX_BODY_BYTES,
      example: [
        {
          token: "eyJ0eXAiOiJrZXlnYXRlK2p3dCIsImFsZyI6IlJTMjU2Iiwia2lkIjoi...",
          type: GITHUB_TOKEN_TYPE,
          url: "https://github.com/octo/repo/blob/abc123/.env",
          source: "content",
        },
      ],
    },
    responses: {
      200: {
        description: "GitHub's feedback format, one entry per finding.",
        schema: gitHubFeedback,
        example: [
          {
            token_raw: "eyJ0eXAiOiJrZXlnYXRlK2p3dCIsImFsZyI6IlJTMjU2Iiwia2lkIjoi...",
            token_type: GITHUB_TOKEN_TYPE,
            label: "true_positive",
          },
        ],
      },
    },
    async handle({ c, env, body }) {
      const now = Math.floor(Date.now() / 1000);
      const deps = await serviceDeps(env);
      const findings = await findLeakedKeys(
        deps,
        body.map((f) => f.token),
        now,
      );
      const live = body.flatMap((f) => {
        const found = findings.get(f.token);
        // GitHub's findings are not refused for control characters (refusing would leave the keys
        // live): the url is escaped once, here, for everything it reaches (the revocation reason,
        // the audit entry, the key.leaked alert and its webhooks).
        const url = f.url === undefined ? null : escapeControlCharacters(f.url).slice(0, URL_MAX_LENGTH);
        return found?.kind === "live" ? [{ row: found.row, url }] : [];
      });
      await actOnLeakedKeys(deps, leakReportActorOf(c, "github", 200, now), live);
      return jsonResponse(
        body.map((f) => ({
          token_raw: f.token,
          token_type: f.type ?? GITHUB_TOKEN_TYPE,
          label: findings.get(f.token)?.kind === "foreign" ? "false_positive" : "true_positive",
        })),
      );
    },
  }),
  publicRoute({
    method: "POST",
    path: "/api/v1/leaks/report",
    operationId: "reportLeakedKey",
    summary: "Report a leaked key (no credentials)",
    description:
      "Anyone who finds a keygate key in the wild may report it; the key itself is the evidence. The answer is the same 202 whatever the token, and the report is handled after the answer, so neither its content nor its timing says anything about the key. A live key is acted on by its tenant's `leak_action`. Throttled per client.",
    tag: "Leaks",
    credential: "none",
    role: "public",
    body: {
      schema: () => reportBody,
      required: true,
      example: { token: "eyJ0eXAiOiJrZXlnYXRlK2p3dCIsImFsZyI6IlJTMjU2Iiwia2lkIjoi...", url: "https://pastebin.example/raw/abc123" },
    },
    responses: {
      202: {
        description: "The report was received.",
        schema: z.strictObject({ message: z.string() }),
        example: REPORT_RECEIVED,
      },
    },
    errors: ["rate_limited"],
    handle({ c, env, body }) {
      const nowMs = Date.now();
      throttleReport(c, nowMs);
      const now = Math.floor(nowMs / 1000);
      const actor = leakReportActorOf(c, "public-report", 202, now);
      c.executionCtx.waitUntil(
        (async () => {
          const deps = await serviceDeps(env);
          const found = (await findLeakedKeys(deps, [body.token], now)).get(body.token);
          if (found?.kind === "live") await actOnLeakedKeys(deps, actor, [{ row: found.row, url: body.url }]);
        })().catch((err) => console.error("acting on a leak report failed", err)),
      );
      return jsonResponse(REPORT_RECEIVED, 202);
    },
  }),
];
