/**
 * Production limits on the real local bindings. Local D1 is SQLite, local KV is files and local
 * Queues take anything, so a statement with 500 bound parameters or a 200 KB queue message passes
 * every test and fails in production. These wrappers sit in front of the real bindings (not mocks:
 * every call that passes reaches the real binding) and throw a PlatformLimitError where production
 * would refuse, with the limit's name. The numbers are src/lib/platform-limits.ts, which production
 * code sizes its chunks with.
 *
 * Per-invocation limits (D1 queries, KV operations, subrequests) count per invocation: the test
 * entry (limited-entry.ts) runs each fetch, scheduled and queue call in its own invocation scope
 * (AsyncLocalStorage, so work in waitUntil counts for the invocation that started it). Code a test
 * calls directly counts in the test's own scope, reset before each test.
 *
 * KV's one write per second per key is not an error in production (KV may answer 429): writes to
 * one key less than a second apart are recorded (kvSameKeyWrites) and logged, not refused.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import {
  D1_MAX_BOUND_PARAMETERS,
  D1_MAX_QUERIES_PER_INVOCATION,
  D1_MAX_ROW_BYTES,
  D1_MAX_STATEMENT_BYTES,
  KV_MAX_KEY_BYTES,
  KV_MAX_METADATA_BYTES,
  KV_MAX_OPERATIONS_PER_INVOCATION,
  KV_MAX_VALUE_BYTES,
  KV_MIN_SAME_KEY_WRITE_INTERVAL_MS,
  QUEUE_MAX_BATCH_BYTES,
  QUEUE_MAX_BATCH_MESSAGES,
  QUEUE_MAX_CONSUMER_BATCH_MESSAGES,
  QUEUE_MAX_DELAY_SECONDS,
  QUEUE_MAX_MESSAGE_BYTES,
  QUEUE_MESSAGE_METADATA_BYTES,
  WORKERS_MAX_SUBREQUESTS_PER_INVOCATION,
} from "../../src/lib/platform-limits";

/** What a limit wrapper throws: `limit` names the documented limit (a constant of src/lib/platform-limits.ts). */
export class PlatformLimitError extends Error {
  readonly code = "platform_limit_exceeded";
  constructor(
    readonly limit: string,
    detail: string,
  ) {
    super(`Cloudflare limit ${limit} exceeded: ${detail}. Production refuses this (src/lib/platform-limits.ts).`);
    this.name = "PlatformLimitError";
  }
}

// ---------------------------------------------------------------- invocations

export interface Invocation {
  label: string;
  d1Queries: number;
  kvOperations: number;
  subrequests: number;
}

function newInvocation(label: string): Invocation {
  return { label, d1Queries: 0, kvOperations: 0, subrequests: 0 };
}

const invocations = new AsyncLocalStorage<Invocation>();
let testScope = newInvocation("test");

/** The invocation the current code runs in: the entry's, or the test's own scope. */
export function currentInvocation(): Invocation {
  return invocations.getStore() ?? testScope;
}

/** Runs `fn` as one invocation of the worker (fresh per-invocation counters). */
export function runAsInvocation<T>(label: string, fn: () => T): T {
  return invocations.run(newInvocation(label), fn);
}

/** A fresh scope for what a test calls directly (the setup file calls this before each test). */
export function resetTestScope(label = "test"): void {
  testScope = newInvocation(label);
}

function subrequest(what: string): Invocation {
  const inv = currentInvocation();
  inv.subrequests++;
  if (inv.subrequests > WORKERS_MAX_SUBREQUESTS_PER_INVOCATION) {
    throw new PlatformLimitError(
      "WORKERS_MAX_SUBREQUESTS_PER_INVOCATION",
      `${inv.subrequests} subrequests in one ${inv.label} invocation (the last: ${what}); the limit is ${WORKERS_MAX_SUBREQUESTS_PER_INVOCATION}`,
    );
  }
  return inv;
}

// ---------------------------------------------------------------- sizes

const encoder = new TextEncoder();

function utf8Bytes(text: string): number {
  return encoder.encode(text).byteLength;
}

/** Whether `text` is over `limit` UTF-8 bytes; encodes only text that could be (3 bytes per UTF-16 unit at most). */
function overBytes(text: string, limit: number): boolean {
  return text.length * 3 > limit && utf8Bytes(text) > limit;
}

/** Bytes of one SQL value as D1 stores it: text as UTF-8, blobs as is, numbers 8. */
function sqlValueBytes(value: unknown): number {
  if (typeof value === "string") return utf8Bytes(value);
  if (value instanceof ArrayBuffer) return value.byteLength;
  if (ArrayBuffer.isView(value)) return value.byteLength;
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") return 8;
  return 0;
}

/**
 * An upper bound of a value's size in V8's serialization (Queues' default content type): strings 1
 * byte per Latin-1 character or 2 per other, numbers 9 (a double), plus a few bytes per value.
 */
function v8Bytes(value: unknown, seen = new Set<object>()): number {
  if (value === null || value === undefined || typeof value === "boolean") return 1;
  if (typeof value === "number") return 9;
  if (typeof value === "bigint") return 10 + value.toString(16).length;
  if (typeof value === "string") return 5 + (/[\u0100-\uffff]/.test(value) ? value.length * 2 : value.length);
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return 10 + value.byteLength;
  if (value instanceof Date) return 9;
  if (typeof value !== "object" || seen.has(value)) return 5;
  seen.add(value);
  let size = 10;
  if (value instanceof Map) for (const [k, v] of value) size += v8Bytes(k, seen) + v8Bytes(v, seen);
  else if (value instanceof Set) for (const v of value) size += v8Bytes(v, seen);
  else for (const [k, v] of Object.entries(value)) size += v8Bytes(k, seen) + v8Bytes(v, seen);
  return size;
}

/**
 * A queue message's size as Queues counts it, conservatively: the body serialized for its content
 * type (for "v8", the larger of the JSON text and the V8 estimate) plus the internal metadata.
 */
export function queueMessageBytes(body: unknown, contentType?: QueueContentType): number {
  let bodyBytes: number;
  if (contentType === "text") bodyBytes = utf8Bytes(String(body));
  else if (contentType === "bytes") bodyBytes = (body as ArrayBuffer).byteLength;
  else {
    const json = JSON.stringify(body);
    const jsonBytes = json === undefined ? 0 : utf8Bytes(json);
    bodyBytes = contentType === "json" ? jsonBytes : Math.max(jsonBytes, v8Bytes(body));
  }
  return bodyBytes + QUEUE_MESSAGE_METADATA_BYTES;
}

// ---------------------------------------------------------------- D1

const LIMITED = Symbol.for("keygate.platform-limits");
function isLimited(value: unknown): boolean {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[LIMITED] === true;
}

/** The real statement behind each limited one, for batch(). */
const realStatements = new WeakMap<object, D1PreparedStatement>();
const statementTexts = new WeakMap<object, { sql: string; params: readonly unknown[] }>();

function checkStatement(sql: string, params: readonly unknown[]): void {
  if (overBytes(sql, D1_MAX_STATEMENT_BYTES)) {
    throw new PlatformLimitError(
      "D1_MAX_STATEMENT_BYTES",
      `a ${utf8Bytes(sql)}-byte SQL statement (at most ${D1_MAX_STATEMENT_BYTES}): ${sql.slice(0, 80)}…`,
    );
  }
  if (params.length > D1_MAX_BOUND_PARAMETERS) {
    throw new PlatformLimitError(
      "D1_MAX_BOUND_PARAMETERS",
      `${params.length} bound parameters in one statement (at most ${D1_MAX_BOUND_PARAMETERS}): ${sql.slice(0, 120)}`,
    );
  }
  params.forEach((value, i) => {
    if (typeof value === "string" && !overBytes(value, D1_MAX_ROW_BYTES)) return;
    const bytes = sqlValueBytes(value);
    if (bytes > D1_MAX_ROW_BYTES) {
      throw new PlatformLimitError(
        "D1_MAX_ROW_BYTES",
        `bound parameter ${i + 1} is ${bytes} bytes (a value or row holds at most ${D1_MAX_ROW_BYTES})`,
      );
    }
  });
}

function checkRows(rows: readonly unknown[] | undefined, sql: string): void {
  for (const row of rows ?? []) {
    if (row === null || typeof row !== "object") continue;
    let bytes = 0;
    for (const value of Object.values(row)) bytes += sqlValueBytes(value);
    if (bytes > D1_MAX_ROW_BYTES) {
      throw new PlatformLimitError("D1_MAX_ROW_BYTES", `a ${bytes}-byte row (at most ${D1_MAX_ROW_BYTES}) from ${sql.slice(0, 80)}`);
    }
  }
}

function countQueries(n: number, what: string): void {
  const inv = subrequest(`D1 ${what}`);
  inv.d1Queries += n;
  if (inv.d1Queries > D1_MAX_QUERIES_PER_INVOCATION) {
    throw new PlatformLimitError(
      "D1_MAX_QUERIES_PER_INVOCATION",
      `${inv.d1Queries} D1 queries in one ${inv.label} invocation (the last: ${what}); the limit is ${D1_MAX_QUERIES_PER_INVOCATION}`,
    );
  }
}

class LimitedStatement {
  readonly [LIMITED] = true;
  constructor(
    private readonly real: D1PreparedStatement,
    readonly sql: string,
    readonly params: readonly unknown[],
  ) {
    realStatements.set(this, real);
    statementTexts.set(this, { sql, params });
  }

  bind(...values: unknown[]): LimitedStatement {
    return new LimitedStatement(this.real.bind(...values), this.sql, values);
  }

  private check(): void {
    checkStatement(this.sql, this.params);
    countQueries(1, this.sql.slice(0, 60));
  }

  async first(column?: string): Promise<unknown> {
    this.check();
    const row = column === undefined ? await this.real.first() : await this.real.first(column);
    if (column === undefined) checkRows([row], this.sql);
    else checkRows([{ [column]: row }], this.sql);
    return row;
  }

  async all(): Promise<D1Result> {
    this.check();
    const result = await this.real.all();
    checkRows(result.results, this.sql);
    return result;
  }

  async run(): Promise<D1Result> {
    this.check();
    const result = await this.real.run();
    checkRows(result.results, this.sql);
    return result;
  }

  async raw(options?: { columnNames?: boolean }): Promise<unknown[]> {
    this.check();
    const rows = options?.columnNames ? await this.real.raw({ columnNames: true }) : await this.real.raw();
    checkRows(rows as unknown[], this.sql);
    return rows;
  }
}

function limitD1Like<T extends { prepare(sql: string): D1PreparedStatement; batch: D1Database["batch"] }>(d1: T): T {
  if (isLimited(d1)) return d1;
  return new Proxy(d1, {
    get(target, prop) {
      if (prop === LIMITED) return true;
      if (prop === "prepare") {
        return (sql: string) => new LimitedStatement(target.prepare(sql), sql, []) as unknown as D1PreparedStatement;
      }
      if (prop === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          const texts = statements.map((s) => statementTexts.get(s) ?? { sql: "", params: [] });
          for (const { sql, params } of texts) checkStatement(sql, params);
          // Every statement of a batch is a query; the batch is one subrequest.
          countQueries(statements.length, `batch of ${statements.length}`);
          const results = await target.batch(statements.map((s) => realStatements.get(s) ?? s));
          results.forEach((result, i) => {
            checkRows(result.results, texts[i]?.sql ?? "");
          });
          return results;
        };
      }
      if (prop === "exec") {
        return (sql: string) => {
          const statements = sql.split(";").filter((s) => s.trim() !== "");
          for (const s of statements) checkStatement(s, []);
          countQueries(Math.max(1, statements.length), "exec");
          return (target as unknown as D1Database).exec(sql);
        };
      }
      if (prop === "withSession") {
        return (...args: unknown[]) =>
          limitD1Like((target as unknown as { withSession(...a: unknown[]): D1DatabaseSession }).withSession(...args));
      }
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** The D1 binding with production's statement, row and per-invocation limits. */
export function limitD1(d1: D1Database): D1Database {
  return limitD1Like(d1);
}

// ---------------------------------------------------------------- KV

export interface SameKeyWrite {
  key: string;
  op: "put" | "delete";
  /** Milliseconds since the previous write to the same key. */
  sinceLastMs: number;
  invocation: string;
}

/** Writes to one KV key less than KV_MIN_SAME_KEY_WRITE_INTERVAL_MS apart, in this test file so far. */
export const kvSameKeyWrites: SameKeyWrite[] = [];
/** Date.now as it was before any test froze the clock: the interval between real writes. */
const realNow = Date.now.bind(Date);
const lastWrites = new WeakMap<object, Map<string, number>>();

function checkKey(key: unknown): void {
  const bytes = utf8Bytes(String(key));
  if (bytes > KV_MAX_KEY_BYTES) {
    throw new PlatformLimitError("KV_MAX_KEY_BYTES", `a ${bytes}-byte KV key (at most ${KV_MAX_KEY_BYTES}): ${String(key).slice(0, 60)}…`);
  }
}

function countKvOperation(op: string): void {
  const inv = subrequest(`KV ${op}`);
  inv.kvOperations++;
  if (inv.kvOperations > KV_MAX_OPERATIONS_PER_INVOCATION) {
    throw new PlatformLimitError(
      "KV_MAX_OPERATIONS_PER_INVOCATION",
      `${inv.kvOperations} KV operations in one ${inv.label} invocation (the limit is ${KV_MAX_OPERATIONS_PER_INVOCATION})`,
    );
  }
}

function noteWrite(namespace: object, key: string, op: SameKeyWrite["op"]): void {
  let writes = lastWrites.get(namespace);
  if (!writes) {
    writes = new Map();
    lastWrites.set(namespace, writes);
  }
  const now = realNow();
  const last = writes.get(key);
  writes.set(key, now);
  if (last !== undefined && now - last < KV_MIN_SAME_KEY_WRITE_INTERVAL_MS) {
    const write = { key, op, sinceLastMs: now - last, invocation: currentInvocation().label };
    kvSameKeyWrites.push(write);
    console.warn(`KV: ${op} of ${key} ${write.sinceLastMs} ms after the previous write (production allows 1 write per key per second)`);
  }
}

function valueBytes(value: unknown): number | undefined {
  if (typeof value === "string") return utf8Bytes(value);
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return value.byteLength;
  return undefined; // a stream: its size is known only once read
}

/** The KV binding with production's key, metadata and value sizes; same-key writes recorded. */
export function limitKV(kv: KVNamespace): KVNamespace {
  if (isLimited(kv)) return kv;
  return new Proxy(kv, {
    get(target, prop) {
      if (prop === LIMITED) return true;
      const value = Reflect.get(target, prop);
      if (typeof value !== "function") return value;
      const method = value as (...args: unknown[]) => unknown;
      switch (prop) {
        case "get":
        case "getWithMetadata":
          return (key: unknown, ...rest: unknown[]) => {
            for (const k of Array.isArray(key) ? key : [key]) checkKey(k);
            countKvOperation(prop);
            return method.call(target, key, ...rest);
          };
        case "put":
          return (key: string, data: unknown, options?: KVNamespacePutOptions) => {
            checkKey(key);
            const bytes = valueBytes(data);
            if (bytes !== undefined && bytes > KV_MAX_VALUE_BYTES) {
              throw new PlatformLimitError("KV_MAX_VALUE_BYTES", `a ${bytes}-byte value for ${key} (at most ${KV_MAX_VALUE_BYTES})`);
            }
            if (options?.metadata !== undefined && options.metadata !== null) {
              const metadataBytes = utf8Bytes(JSON.stringify(options.metadata));
              if (metadataBytes > KV_MAX_METADATA_BYTES) {
                throw new PlatformLimitError(
                  "KV_MAX_METADATA_BYTES",
                  `${metadataBytes} bytes of metadata (serialized JSON) for ${key} (at most ${KV_MAX_METADATA_BYTES})`,
                );
              }
            }
            countKvOperation("put");
            noteWrite(target, key, "put");
            return method.call(target, key, data, options);
          };
        case "delete":
          return (key: string) => {
            checkKey(key);
            countKvOperation("delete");
            noteWrite(target, key, "delete");
            return method.call(target, key);
          };
        case "list":
          return (...args: unknown[]) => {
            countKvOperation("list");
            return Reflect.apply(method, target, args);
          };
        default:
          return method.bind(target);
      }
    },
  });
}

// ---------------------------------------------------------------- Queues

function checkDelay(delaySeconds: number | undefined): void {
  if (delaySeconds !== undefined && delaySeconds > QUEUE_MAX_DELAY_SECONDS) {
    throw new PlatformLimitError("QUEUE_MAX_DELAY_SECONDS", `delaySeconds ${delaySeconds} (at most ${QUEUE_MAX_DELAY_SECONDS})`);
  }
}

function checkMessage(body: unknown, contentType: QueueContentType | undefined, index?: number): number {
  const bytes = queueMessageBytes(body, contentType);
  if (bytes > QUEUE_MAX_MESSAGE_BYTES) {
    const which = index === undefined ? "a message" : `message ${index + 1} of the batch`;
    throw new PlatformLimitError(
      "QUEUE_MAX_MESSAGE_BYTES",
      `${which} is ${bytes} bytes with its metadata (at most ${QUEUE_MAX_MESSAGE_BYTES})`,
    );
  }
  return bytes;
}

/** The queue producer binding with production's message and sendBatch limits. */
export function limitQueue<T>(queue: Queue<T>): Queue<T> {
  if (isLimited(queue)) return queue;
  return new Proxy(queue, {
    get(target, prop) {
      if (prop === LIMITED) return true;
      if (prop === "send") {
        return (body: T, options?: QueueSendOptions) => {
          checkMessage(body, options?.contentType);
          checkDelay(options?.delaySeconds);
          subrequest("Queue send");
          return target.send(body, options);
        };
      }
      if (prop === "sendBatch") {
        return (messages: Iterable<MessageSendRequest<T>>, options?: QueueSendBatchOptions) => {
          const list = [...messages];
          if (list.length > QUEUE_MAX_BATCH_MESSAGES) {
            throw new PlatformLimitError(
              "QUEUE_MAX_BATCH_MESSAGES",
              `sendBatch of ${list.length} messages (at most ${QUEUE_MAX_BATCH_MESSAGES})`,
            );
          }
          let total = 0;
          list.forEach((m, i) => {
            total += checkMessage(m.body, m.contentType, i);
            checkDelay(m.delaySeconds);
          });
          if (total > QUEUE_MAX_BATCH_BYTES) {
            throw new PlatformLimitError(
              "QUEUE_MAX_BATCH_BYTES",
              `sendBatch of ${total} bytes in ${list.length} messages (at most ${QUEUE_MAX_BATCH_BYTES})`,
            );
          }
          checkDelay(options?.delaySeconds);
          subrequest("Queue sendBatch");
          return target.sendBatch(list, options);
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** A consumer batch as production could deliver it (tests build their own with createMessageBatch). */
export function checkConsumerBatch(batch: MessageBatch<unknown>): void {
  if (batch.messages.length > QUEUE_MAX_CONSUMER_BATCH_MESSAGES) {
    throw new PlatformLimitError(
      "QUEUE_MAX_CONSUMER_BATCH_MESSAGES",
      `a consumer batch of ${batch.messages.length} messages (at most ${QUEUE_MAX_CONSUMER_BATCH_MESSAGES})`,
    );
  }
  // Sizes were checked when sent, for the content type they were sent with (unknown here): a
  // batch a test builds itself is measured as JSON, what keygate's producers send.
  batch.messages.forEach((m, i) => {
    checkMessage(m.body, "json", i);
  });
}

// ---------------------------------------------------------------- Durable Objects and fetch

/** Each call on a stub of this namespace (RPC method or fetch) counts as a subrequest. */
// biome-ignore lint/suspicious/noExplicitAny: any Durable Object class.
export function limitDurableObjects<T extends DurableObjectNamespace<any>>(namespace: T): T {
  if (isLimited(namespace)) return namespace;
  const countingStub = (stub: object): object =>
    new Proxy(stub, {
      get(target, prop) {
        const value = Reflect.get(target, prop);
        if (typeof value !== "function" || prop === "then") return value;
        return (...args: unknown[]) => {
          subrequest(`Durable Object ${String(prop)}`);
          // Reflect.apply: on an RPC method, `.apply` would itself be a remote property.
          return Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
        };
      },
    });
  return new Proxy(namespace, {
    get(target, prop) {
      if (prop === LIMITED) return true;
      const value = Reflect.get(target, prop);
      if (typeof value !== "function") return value;
      if (prop === "get" || prop === "getByName") {
        return (...args: unknown[]) => countingStub(Reflect.apply(value as (...a: unknown[]) => object, target, args));
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

let fetchCounted = false;
/** Counts every fetch() in this isolate (the worker's and the tests') as a subrequest of its invocation. */
export function countFetchSubrequests(): void {
  if (fetchCounted) return;
  fetchCounted = true;
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
    subrequest(`fetch ${input instanceof Request ? input.url : String(input)}`);
    return realFetch(input, init);
  };
}

// ---------------------------------------------------------------- env

const BINDINGS = {
  DB: limitD1,
  EDGE_RECORDS: limitKV,
  USAGE_QUEUE: limitQueue,
  WEBHOOK_QUEUE: limitQueue,
  RATE_LIMITER: limitDurableObjects,
} as const;

/** The env's bindings, limited (those already limited stay the same objects). */
export function limitedBindings<E extends object>(env: E): Partial<E> {
  const out: Record<string, unknown> = {};
  for (const [name, limit] of Object.entries(BINDINGS)) {
    const binding = (env as Record<string, unknown>)[name];
    if (binding !== undefined && !isLimited(binding)) out[name] = (limit as (b: unknown) => unknown)(binding);
  }
  return out as Partial<E>;
}

const limitedEnvs = new WeakMap<object, object>();

/**
 * `env` with its bindings limited: `env` itself when they already are (the setup file limits the
 * test env in place), else one copy per env object, so the worker's per-env caches stay per env.
 */
export function limitedEnv<E extends object>(env: E): E {
  const bindings = limitedBindings(env);
  if (Object.keys(bindings).length === 0) return env;
  let limited = limitedEnvs.get(env);
  if (!limited) {
    limited = { ...env, ...bindings };
    limitedEnvs.set(env, limited);
  }
  return limited as E;
}
