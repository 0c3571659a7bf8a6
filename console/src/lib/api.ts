/**
 * The management API as the console calls it: same endpoints, bodies and bearer as curl. Every
 * failure becomes an ApiError carrying the API's own `error` and `error_description`, which the
 * pages show as they are. Every string of every answer has its control characters and bidi
 * formatting characters escaped (`\u001b`, `\u202e`) on the way in, so no page can show one,
 * whatever was stored.
 */
import { escapeControlCharacters } from "../../../src/lib/escape-control-characters";

/**
 * Bidirectional formatting characters (ALM, LRM, RLM, the embeddings and overrides, the isolates):
 * HTML escaping leaves them, and they reorder what follows them in a table cell or line.
 */
const BIDI_FORMATTING = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

/** `text` as a page may show it: control and bidi formatting characters written as `\u202e`. */
export function escapeForDisplay(text: string): string {
  return escapeControlCharacters(text).replace(BIDI_FORMATTING, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** JSON text as a value whose strings and field names hold no control or bidi formatting characters. */
export function parseJson(text: string): unknown {
  return JSON.parse(text, (_key, value: unknown) => {
    if (typeof value === "string") return escapeForDisplay(value);
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [escapeForDisplay(k), v]));
    }
    return value;
  });
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly description: string;
  constructor(status: number, code: string, description: string) {
    super(description);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.description = description;
  }
}

/** Maps a non-2xx response to an ApiError: the API's body when it is one, else what can be said. */
export async function errorFromResponse(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => "");
  try {
    const body = parseJson(text) as { error?: unknown; error_description?: unknown };
    if (typeof body.error === "string") {
      const description = typeof body.error_description === "string" && body.error_description !== "" ? body.error_description : body.error;
      return new ApiError(res.status, body.error, description);
    }
  } catch {
    // not JSON: below
  }
  const reason = res.statusText ? ` ${res.statusText}` : "";
  return new ApiError(res.status, `http_${res.status}`, `The server answered HTTP ${res.status}${reason} without an error description`);
}

export interface Page<T> {
  items: T[];
  /** X-Next-Cursor of the response (absent on the last page). */
  nextCursor: string | null;
}

export interface ApiClientOptions {
  /** The current bearer, or null when signed out. */
  token: () => string | null;
  fetchFn?: typeof fetch;
  base?: string;
}

type Query = Record<string, string | number | undefined | null>;

export class ApiClient {
  private readonly options: ApiClientOptions;
  constructor(options: ApiClientOptions) {
    this.options = options;
  }

  private url(path: string, query?: Query): string {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query ?? {}))
      if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
    const qs = params.toString();
    return `${this.options.base ?? ""}${path}${qs ? `?${qs}` : ""}`;
  }

  /** One call. `path` is absolute (/api/v1/...). */
  async send(method: string, path: string, init: { query?: Query; body?: unknown } = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json" };
    const token = this.options.token();
    if (token) headers.authorization = `Bearer ${token}`;
    if (init.body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await (this.options.fetchFn ?? fetch)(this.url(path, init.query), {
        method,
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        // Never send cookies; the bearer is the only credential.
        credentials: "omit",
        cache: "no-store",
      });
    } catch {
      throw new ApiError(0, "network_error", "keygate could not be reached; check your connection and try again");
    }
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }

  async json<T>(method: string, path: string, init: { query?: Query; body?: unknown } = {}): Promise<T> {
    const res = await this.send(method, path, init);
    try {
      return parseJson(await res.text()) as T;
    } catch {
      throw new ApiError(res.status, "invalid_response", `The server's answer to ${method} ${path} is not JSON`);
    }
  }

  async page<T>(path: string, query: Query = {}): Promise<Page<T>> {
    const res = await this.send("GET", path, { query });
    const items = parseJson(await res.text()) as T[];
    if (!Array.isArray(items)) throw new ApiError(res.status, "invalid_response", `The server's answer to GET ${path} is not a list`);
    return { items, nextCursor: res.headers.get("x-next-cursor") };
  }
}

/** Management API paths of a tenant; ids are encoded, so nothing in them can change the path. */
export function tenantPath(tenant: string, ...segments: string[]): string {
  return `/api/v1/tenant/${encodeURIComponent(tenant)}/${segments.map(encodeURIComponent).join("/")}`;
}
