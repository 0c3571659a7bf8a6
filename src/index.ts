/**
 * keygate's entry point. Control-plane paths (management API, JWKS, scopes, health) go to the
 * Hono app; /console is the web console (src/console-host/); every other request is the data plane and
 * goes straight to the gateway. The cron and the queues (usage events, webhook deliveries) have
 * their own entry points below.
 */

import { raiseQuotaAlert } from "./alerts/quota-alerts";
import { createApp, isControlPlanePath } from "./app";
import { isConsolePath, serveConsole } from "./console-host/serve";
import type { Env } from "./env";
import { toErrorResponse } from "./errors";
import { handleGateway } from "./gateway/handler";
import { requestTarget } from "./http/request-target";
import { consume } from "./queues";
import { setQuotaAlertSink } from "./ratelimit/counter";
import { runScheduled } from "./scheduled";

export { RateLimitCounter } from "./ratelimit/counter";
export { UsageAggregator } from "./usage/aggregator";

// The counter raises quota_low / quota_exhausted through the alerts feature, which sits above it.
setQuotaAlertSink(raiseQuotaAlert);

const app = createApp();

export default {
  fetch(request, env, ctx): Response | Promise<Response> {
    const target = requestTarget(request.url);
    if (isConsolePath(target.path)) return serveConsole(request, env, target.path);
    if (isControlPlanePath(target.path)) return app.fetch(request, env, ctx);
    return handleGateway(request, env, ctx, target).catch(toErrorResponse);
  },

  async scheduled(controller, env, ctx): Promise<void> {
    const run = runScheduled(env, Math.floor(controller.scheduledTime / 1000));
    ctx.waitUntil(run);
    await run;
  },

  async queue(batch, env, _ctx): Promise<void> {
    await consume(batch, env);
  },
} satisfies ExportedHandler<Env>;
