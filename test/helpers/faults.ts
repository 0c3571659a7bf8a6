/**
 * Fault injection for the bindings that run locally: the real binding, with the operations a test
 * names failing as they do when the service is down. Everything else goes to the real binding.
 * Used only by fault tests; functional tests always use the real bindings.
 */

export interface Failure {
  /** The methods that fail, e.g. ["get"] for KV reads. */
  methods: string[];
  /** "throw" rejects like an unreachable service; "hang" never answers (timeouts). */
  mode?: "throw" | "hang";
  message?: string;
}

function failing(message: string, mode: "throw" | "hang"): (...args: unknown[]) => Promise<never> {
  return () => (mode === "hang" ? new Promise<never>(() => {}) : Promise.reject(new Error(message)));
}

/** The binding with `failure.methods` failing. */
export function withFailures<T extends object>(binding: T, failure: Failure): T {
  const mode = failure.mode ?? "throw";
  const message = failure.message ?? `injected fault: ${failure.methods.join(", ")} unavailable`;
  return new Proxy(binding, {
    get(target, prop, receiver) {
      if (typeof prop === "string" && failure.methods.includes(prop)) return failing(message, mode);
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** A Durable Object namespace whose objects cannot be reached: every RPC on their stubs fails. */
// biome-ignore lint/suspicious/noExplicitAny: any Durable Object class.
export function unreachableDurableObjects<T extends DurableObjectNamespace<any>>(namespace: T, mode: "throw" | "hang" = "throw"): T {
  const message = "Durable Object reset because its code was updated."; // one of the errors a stub call can reject with
  return new Proxy(namespace, {
    get(target, prop, receiver) {
      if (prop === "get") {
        return (id: DurableObjectId) => {
          const stub = (target as unknown as { get(id: DurableObjectId): object }).get(id);
          return new Proxy(stub, { get: (_stub, method) => (method === "then" ? undefined : failing(message, mode)) });
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** A D1 binding that is down: every statement and batch fails as D1 does when unreachable. */
export function unavailableD1(d1: D1Database): D1Database {
  const error = () => Promise.reject(new Error("D1_ERROR: Network connection lost."));
  const statement = (): D1PreparedStatement =>
    new Proxy({} as D1PreparedStatement, {
      get: (_target, prop) => (prop === "bind" ? () => statement() : prop === "then" ? undefined : error),
    });
  return new Proxy(d1, {
    get(target, prop, receiver) {
      if (prop === "prepare") return () => statement();
      if (prop === "batch" || prop === "exec" || prop === "dump") return error;
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
