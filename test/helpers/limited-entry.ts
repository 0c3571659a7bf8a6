/**
 * The worker as the workerd tests run it: src/index.ts with Cloudflare's production limits on its
 * bindings (platform-limits.ts), each fetch, scheduled and queue call one invocation with its own
 * per-invocation counters. vitest.config.ts names this file as `main`, so calls through `exports`
 * (the runtime's own dispatch) come here; tests that call the handlers directly import it too.
 */
import type { Env } from "../../src/env";
import worker from "../../src/index";
import { checkConsumerBatch, limitedEnv, runAsInvocation } from "./platform-limits";

export { RateLimitCounter } from "../../src/ratelimit/counter";

export default {
  fetch(request, env, ctx): Response | Promise<Response> {
    return runAsInvocation("fetch", () => worker.fetch(request, limitedEnv(env), ctx));
  },

  scheduled(controller, env, ctx): Promise<void> {
    return runAsInvocation("scheduled", () => worker.scheduled(controller, limitedEnv(env), ctx));
  },

  queue(batch, env, ctx): Promise<void> {
    checkConsumerBatch(batch);
    return runAsInvocation("queue", () => worker.queue(batch, limitedEnv(env), ctx));
  },
} satisfies ExportedHandler<Env>;
