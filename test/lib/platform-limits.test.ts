/**
 * The test wrappers of the real local bindings: each production limit passes just under and
 * throws just over, naming the limit. And they are on for the env tests use and for the worker.
 */

import { createExecutionContext, createMessageBatch, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { boundParameters, chunks, jsonRows, statementsFor } from "../../src/db/statements";
import {
  D1_MAX_BOUND_PARAMETERS,
  D1_MAX_QUERIES_PER_INVOCATION,
  D1_MAX_ROW_BYTES,
  D1_MAX_STATEMENT_BYTES,
  KV_MAX_KEY_BYTES,
  KV_MAX_METADATA_BYTES,
  KV_MAX_OPERATIONS_PER_INVOCATION,
  KV_MAX_VALUE_BYTES,
  QUEUE_MAX_BATCH_BYTES,
  QUEUE_MAX_BATCH_MESSAGES,
  QUEUE_MAX_DELAY_SECONDS,
  QUEUE_MAX_MESSAGE_BYTES,
  QUEUE_MESSAGE_METADATA_BYTES,
  WORKERS_MAX_SUBREQUESTS_PER_INVOCATION,
} from "../../src/lib/platform-limits";
import type { RateLimitCounter } from "../../src/ratelimit/counter";
import worker from "../helpers/limited-entry";
import { currentInvocation, kvSameKeyWrites, PlatformLimitError, queueMessageBytes, runAsInvocation } from "../helpers/platform-limits";

async function refusal(promise: Promise<unknown> | (() => unknown), limit: string): Promise<PlatformLimitError> {
  let error: unknown;
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (err) {
    error = err;
  }
  expect(error, `expected ${limit} to be refused`).toBeInstanceOf(PlatformLimitError);
  const e = error as PlatformLimitError;
  expect(e.code).toBe("platform_limit_exceeded");
  expect(e.limit).toBe(limit);
  expect(e.message).toContain(limit);
  return e;
}

const params = (n: number) => Array.from({ length: n }, (_, i) => i);
const selectOf = (n: number) =>
  `SELECT ${params(n)
    .map(() => "?")
    .join(" + ")} AS n`;

describe("D1", () => {
  it(`binds ${D1_MAX_BOUND_PARAMETERS} parameters, refuses ${D1_MAX_BOUND_PARAMETERS + 1}`, async () => {
    const under = await env.DB.prepare(selectOf(D1_MAX_BOUND_PARAMETERS))
      .bind(...params(D1_MAX_BOUND_PARAMETERS))
      .first<{ n: number }>();
    expect(under?.n).toBe((D1_MAX_BOUND_PARAMETERS * (D1_MAX_BOUND_PARAMETERS - 1)) / 2);
    const e = await refusal(
      env.DB.prepare(selectOf(D1_MAX_BOUND_PARAMETERS + 1))
        .bind(...params(D1_MAX_BOUND_PARAMETERS + 1))
        .all(),
      "D1_MAX_BOUND_PARAMETERS",
    );
    expect(e.message).toContain("101 bound parameters");
    // In a batch too.
    await refusal(
      env.DB.batch([env.DB.prepare(selectOf(D1_MAX_BOUND_PARAMETERS + 1)).bind(...params(D1_MAX_BOUND_PARAMETERS + 1))]),
      "D1_MAX_BOUND_PARAMETERS",
    );
  });

  it(`runs a ${D1_MAX_STATEMENT_BYTES}-byte statement, refuses one byte more`, async () => {
    const head = "SELECT 1 AS n -- ";
    const exact = head + "x".repeat(D1_MAX_STATEMENT_BYTES - head.length);
    expect(await env.DB.prepare(exact).first("n")).toBe(1);
    await refusal(env.DB.prepare(`${exact}x`).first(), "D1_MAX_STATEMENT_BYTES");
  });

  it(`stores and reads a ${D1_MAX_ROW_BYTES}-byte value, refuses a larger one bound or returned`, async () => {
    const big = "x".repeat(D1_MAX_ROW_BYTES);
    expect(await env.DB.prepare("SELECT length(?) AS n").bind(big).first("n")).toBe(D1_MAX_ROW_BYTES);
    await refusal(env.DB.prepare("SELECT length(?) AS n").bind(`${big}x`).first(), "D1_MAX_ROW_BYTES");
    // A row over the limit made by SQL (local SQLite allows it; D1 does not).
    await refusal(env.DB.prepare("SELECT ? AS a, 'yy' AS b").bind(big.slice(1)).all(), "D1_MAX_ROW_BYTES");
  });

  it(`counts ${D1_MAX_QUERIES_PER_INVOCATION} queries per invocation (each statement of a batch), refuses the next`, async () => {
    await runAsInvocation("test invocation", async () => {
      const one = env.DB.prepare("SELECT 1");
      await env.DB.batch(Array.from({ length: D1_MAX_QUERIES_PER_INVOCATION - 2 }, () => one));
      await one.run();
      await one.raw();
      expect(currentInvocation().d1Queries).toBe(D1_MAX_QUERIES_PER_INVOCATION);
      expect(currentInvocation().subrequests).toBe(3);
      const e = await refusal(one.first(), "D1_MAX_QUERIES_PER_INVOCATION");
      expect(e.message).toContain("test invocation");
    });
    // A new invocation starts from zero; exec counts each of its statements.
    await runAsInvocation("next", async () => {
      await env.DB.exec("SELECT 1; SELECT 2");
      expect(currentInvocation().d1Queries).toBe(2);
    });
  });
});

describe("KV", () => {
  it(`takes a ${KV_MAX_KEY_BYTES}-byte key, refuses ${KV_MAX_KEY_BYTES + 1} bytes`, async () => {
    const key = `limits-${crypto.randomUUID()}-`.padEnd(KV_MAX_KEY_BYTES, "k");
    await env.EDGE_RECORDS.put(key, "v");
    expect(await env.EDGE_RECORDS.get(key)).toBe("v");
    await env.EDGE_RECORDS.delete(key);
    for (const op of [
      () => env.EDGE_RECORDS.put(`${key}k`, "v"),
      () => env.EDGE_RECORDS.get(`${key}k`),
      () => env.EDGE_RECORDS.delete(`${key}k`),
    ]) {
      await refusal(op, "KV_MAX_KEY_BYTES");
    }
    // Bytes, not characters: 256 two-byte characters are 512 bytes.
    await refusal(() => env.EDGE_RECORDS.get("é".repeat(257)), "KV_MAX_KEY_BYTES");
  });

  it(`takes ${KV_MAX_METADATA_BYTES} bytes of metadata (serialized JSON), refuses one more`, async () => {
    const key = `limits-${crypto.randomUUID()}`;
    const metadata = (n: number) => ({ v: "m".repeat(n - '{"v":""}'.length) });
    expect(JSON.stringify(metadata(KV_MAX_METADATA_BYTES)).length).toBe(KV_MAX_METADATA_BYTES);
    await env.EDGE_RECORDS.put(key, "v", { metadata: metadata(KV_MAX_METADATA_BYTES) });
    expect((await env.EDGE_RECORDS.getWithMetadata(key)).metadata).toEqual(metadata(KV_MAX_METADATA_BYTES));
    await refusal(() => env.EDGE_RECORDS.put(`${key}-2`, "v", { metadata: metadata(KV_MAX_METADATA_BYTES + 1) }), "KV_MAX_METADATA_BYTES");
  });

  it(`takes a ${KV_MAX_VALUE_BYTES}-byte value, refuses one more byte`, async () => {
    const key = `limits-${crypto.randomUUID()}`;
    await env.EDGE_RECORDS.put(key, new Uint8Array(KV_MAX_VALUE_BYTES));
    expect((await env.EDGE_RECORDS.get(key, "arrayBuffer"))?.byteLength).toBe(KV_MAX_VALUE_BYTES);
    await env.EDGE_RECORDS.delete(key);
    await refusal(() => env.EDGE_RECORDS.put(`${key}-2`, new Uint8Array(KV_MAX_VALUE_BYTES + 1)), "KV_MAX_VALUE_BYTES");
  });

  it(`counts ${KV_MAX_OPERATIONS_PER_INVOCATION} KV operations per invocation, refuses the next`, async () => {
    await runAsInvocation("kv invocation", async () => {
      await Promise.all(Array.from({ length: KV_MAX_OPERATIONS_PER_INVOCATION }, (_, i) => env.EDGE_RECORDS.get(`limits-missing-${i}`)));
      await refusal(() => env.EDGE_RECORDS.get("limits-missing"), "KV_MAX_OPERATIONS_PER_INVOCATION");
    });
  });

  it("records (does not refuse) two writes to one key within a second, and logs them", async () => {
    const key = `limits-${crypto.randomUUID()}`;
    const before = kvSameKeyWrites.length;
    await env.EDGE_RECORDS.put(key, "1");
    expect(kvSameKeyWrites.length).toBe(before);
    await env.EDGE_RECORDS.put(key, "2");
    await env.EDGE_RECORDS.delete(key);
    expect(kvSameKeyWrites.slice(before)).toEqual([
      expect.objectContaining({ key, op: "put" }),
      expect.objectContaining({ key, op: "delete" }),
    ]);
    expect(kvSameKeyWrites[before]?.sinceLastMs).toBeLessThan(1000);
  });
});

describe("Queues", () => {
  // A JSON string body of n bytes: n - 2 characters inside the quotes.
  const body = (bytes: number) => "q".repeat(bytes - QUEUE_MESSAGE_METADATA_BYTES - 2);

  it("measures a message as its serialized body plus the ~100 bytes of metadata", () => {
    expect(queueMessageBytes({ delivery: "dlv-1" }, "json")).toBe('{"delivery":"dlv-1"}'.length + QUEUE_MESSAGE_METADATA_BYTES);
    expect(queueMessageBytes("é", "text")).toBe(2 + QUEUE_MESSAGE_METADATA_BYTES);
    // v8 (the default): never less than the JSON text, and numbers as doubles.
    expect(queueMessageBytes([1, 2, 3])).toBeGreaterThanOrEqual(27 + QUEUE_MESSAGE_METADATA_BYTES);
  });

  it(`sends a ${QUEUE_MAX_MESSAGE_BYTES}-byte message, refuses one byte more`, async () => {
    expect(queueMessageBytes(body(QUEUE_MAX_MESSAGE_BYTES), "json")).toBe(QUEUE_MAX_MESSAGE_BYTES);
    await env.USAGE_QUEUE.send(body(QUEUE_MAX_MESSAGE_BYTES) as never, { contentType: "json" });
    await refusal(
      () => env.USAGE_QUEUE.send(body(QUEUE_MAX_MESSAGE_BYTES + 1) as never, { contentType: "json" }),
      "QUEUE_MAX_MESSAGE_BYTES",
    );
    await refusal(
      () => env.USAGE_QUEUE.sendBatch([{ body: body(QUEUE_MAX_MESSAGE_BYTES + 1) as never, contentType: "json" }]),
      "QUEUE_MAX_MESSAGE_BYTES",
    );
  });

  it(`sends a batch of ${QUEUE_MAX_BATCH_MESSAGES} messages or ${QUEUE_MAX_BATCH_BYTES} bytes, refuses more`, async () => {
    const small = { body: { delivery: "dlv-limits" }, contentType: "json" as const };
    await env.WEBHOOK_QUEUE.sendBatch(Array(QUEUE_MAX_BATCH_MESSAGES).fill(small));
    await refusal(() => env.WEBHOOK_QUEUE.sendBatch(Array(QUEUE_MAX_BATCH_MESSAGES + 1).fill(small)), "QUEUE_MAX_BATCH_MESSAGES");
    const message = (bytes: number) => ({ body: body(bytes) as never, contentType: "json" as const });
    const rest = QUEUE_MAX_BATCH_BYTES - 2 * 100_000;
    await env.USAGE_QUEUE.sendBatch([message(100_000), message(100_000), message(rest)]);
    await refusal(() => env.USAGE_QUEUE.sendBatch([message(100_000), message(100_000), message(rest + 1)]), "QUEUE_MAX_BATCH_BYTES");
  });

  it(`delays by up to ${QUEUE_MAX_DELAY_SECONDS} s, refuses longer`, async () => {
    await env.WEBHOOK_QUEUE.send({ delivery: "dlv-limits" }, { delaySeconds: QUEUE_MAX_DELAY_SECONDS });
    await refusal(
      () => env.WEBHOOK_QUEUE.send({ delivery: "dlv-limits" }, { delaySeconds: QUEUE_MAX_DELAY_SECONDS + 1 }),
      "QUEUE_MAX_DELAY_SECONDS",
    );
  });
});

describe("subrequests", () => {
  it(`counts fetch and binding calls per invocation, ${WORKERS_MAX_SUBREQUESTS_PER_INVOCATION} at most`, async () => {
    await runAsInvocation("subrequests", async () => {
      await fetch(`${env.ORIGIN_URL}/__seen/limits`);
      await env.DB.prepare("SELECT 1").run();
      await env.EDGE_RECORDS.get("limits-missing");
      await env.WEBHOOK_QUEUE.send({ delivery: "dlv-limits" });
      // A Durable Object RPC call, through the wrapped stub, still reaches the real object.
      const counters = env.RATE_LIMITER as unknown as DurableObjectNamespace<RateLimitCounter>;
      const stub = counters.get(counters.idFromName(`limits-${crypto.randomUUID()}`));
      const grant = await stub.lease({ limits: [{ name: "n", limit: 10, window_seconds: 60 }], want: 1, nowMs: Date.now() });
      expect(grant.granted).toBe(1);
      expect(currentInvocation().subrequests).toBe(5);
      currentInvocation().subrequests = WORKERS_MAX_SUBREQUESTS_PER_INVOCATION;
      await refusal(() => fetch(`${env.ORIGIN_URL}/__seen/limits`), "WORKERS_MAX_SUBREQUESTS_PER_INVOCATION");
    });
  });
});

describe("the wrappers are on", () => {
  it("for the env tests use (in place) and for each worker invocation, with its own counters", async () => {
    await refusal(
      env.DB.prepare("SELECT 1")
        .bind(...params(101))
        .run(),
      "D1_MAX_BOUND_PARAMETERS",
    );
    // The scheduled handler gets its own invocation: the test scope's count does not move.
    const before = currentInvocation().d1Queries;
    const ctx = createExecutionContext();
    await worker.scheduled({ scheduledTime: Date.now(), cron: "*/5 * * * *", noRetry() {} }, { ...env }, ctx);
    await waitOnExecutionContext(ctx);
    expect(currentInvocation().d1Queries).toBe(before);
  });

  it("for consumer batches as production delivers them (at most 100 messages)", async () => {
    const messages = Array.from({ length: 101 }, (_, i) => ({
      id: `m${i}`,
      timestamp: new Date(),
      attempts: 1,
      body: { delivery: "dlv-none" },
    }));
    const batch = createMessageBatch("keygate-webhooks", messages);
    await refusal(() => worker.queue(batch, env, createExecutionContext()), "QUEUE_MAX_CONSUMER_BATCH_MESSAGES");
  });
});

describe("chunks (src/db/statements.ts)", () => {
  it("sizes bound-parameter lists to the parameter limit, with fixed parameters", () => {
    const ids = params(250);
    expect(chunks(ids, boundParameters()).map((c) => c.length)).toEqual([100, 100, 50]);
    expect(chunks(ids, boundParameters(1, 1)).map((c) => c.length)).toEqual([99, 99, 52]);
    expect(chunks(ids, boundParameters(6)).every((c) => c.length <= 16)).toBe(true);
    expect(statementsFor(250, boundParameters(1, 1))).toBe(3);
    expect(() => boundParameters(101)).toThrow(RangeError);
  });

  it("sizes JSON-parameter lists by rows, not by the parameter limit", () => {
    const ids = params(4_500);
    expect(chunks(ids, jsonRows()).map((c) => c.length)).toEqual([2_000, 2_000, 500]);
    expect(statementsFor(4_500, jsonRows(1_000))).toBe(5);
    expect(chunks([], jsonRows())).toEqual([]);
    expect(() => jsonRows(0)).toThrow(RangeError);
  });
});
