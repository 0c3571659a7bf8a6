/**
 * The worker as the workerd tests run it: src/index.ts with Cloudflare's production limits on its
 * bindings (platform-limits.ts), each fetch, scheduled and queue call one invocation with its own
 * per-invocation counters. vitest.config.ts names this file as `main`, so calls through `exports`
 * (the runtime's own dispatch) come here; tests that call the handlers directly import it too.
 */
import type { Env } from "../../src/env";
import worker from "../../src/index";
import { UsageAggregator as Aggregator } from "../../src/usage/aggregator";
import { unavailableD1 } from "./faults";
import { checkConsumerBatch, limitedEnv, runAsInvocation } from "./platform-limits";

export { RateLimitCounter } from "../../src/ratelimit/counter";

/** Faults the aggregator tests switch on: D1 unreachable from the aggregator's own invocations. */
export const aggregatorFaults = { d1Down: false };

/**
 * The usage aggregator behind the same limits: each alarm (and each flush a test asks for) one
 * invocation. `alarmNow` runs the alarm handler at once and returns the alarm it left set.
 */
export class UsageAggregator extends Aggregator {
  private readonly limited: Env;

  constructor(ctx: DurableObjectState, env: Env) {
    const limited = limitedEnv(env);
    super(ctx, limited);
    this.limited = limited;
    Object.defineProperty(this, "env", {
      get: () => (aggregatorFaults.d1Down ? { ...this.limited, DB: unavailableD1(this.limited.DB) } : this.limited),
    });
  }

  async alarmNow(): Promise<number | null> {
    await this.alarm();
    return this.ctx.storage.getAlarm();
  }

  override flush(): ReturnType<Aggregator["flush"]> {
    return runAsInvocation("alarm", () => super.flush());
  }

  override alarm(): Promise<void> {
    return runAsInvocation("alarm", () => super.alarm());
  }
}

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
