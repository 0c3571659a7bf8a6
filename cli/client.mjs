// @ts-check
/**
 * A small client for keygate's management API: bearer auth, JSON in and out, the API's error
 * body turned into an ApiRefusal, and cursor paging through `X-Next-Cursor`.
 */
import { ApiRefusal, NetworkError } from "./errors.mjs";
import { escapeControlChars, escapingReviver } from "./output.mjs";

/** A management call that has not answered by then is reported as a network failure. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** --all stops here rather than loop forever on a server that keeps returning a cursor. */
const MAX_PAGES = 10_000;

/** @typedef {Record<string, string | number | undefined>} Query */

/**
 * @typedef {object} ApiResponse
 * @property {number} status
 * @property {Headers} headers
 * @property {unknown} body the parsed JSON body
 */

export class Client {
  /**
   * @param {{ url: string, tenant: string, token: string, userAgent: string }} target
   */
  constructor(target) {
    this.baseUrl = target.url;
    this.tenant = target.tenant;
    this.token = target.token;
    this.userAgent = target.userAgent;
  }

  /**
   * A path under this tenant: `tenantPath("api-keys", id)` -> /api/v1/tenant/{t}/api-keys/{id}.
   * @param {...string} segments
   */
  tenantPath(...segments) {
    return ["/api/v1/tenant", this.tenant, ...segments].map((s, i) => (i === 0 ? s : encodeURIComponent(s))).join("/");
  }

  /**
   * One request. Resolves with a 2xx answer; rejects with ApiRefusal (the API said no) or
   * NetworkError (no answer, or not the API's JSON).
   * @param {string} method
   * @param {string} path
   * @param {{ query?: Query, body?: unknown, auth?: boolean }} [options]
   * @returns {Promise<ApiResponse>}
   */
  async request(method, path, options = {}) {
    const url = new URL(this.baseUrl + path);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    /** @type {Record<string, string>} */
    const headers = { accept: "application/json", "user-agent": this.userAgent };
    if (options.auth !== false) headers.authorization = `Bearer ${this.token}`;
    if (options.body !== undefined) headers["content-type"] = "application/json";

    let res;
    let text;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        redirect: "error",
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      text = await res.text();
    } catch (err) {
      throw new NetworkError(`cannot reach ${this.baseUrl}: ${describeFetchError(err)}`);
    }

    /** @type {unknown} */
    let body;
    try {
      body = text === "" ? null : JSON.parse(text, escapingReviver);
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const error = /** @type {{ error?: unknown, error_description?: unknown } | null | undefined} */ (body);
      if (error && typeof error.error === "string") {
        const description = typeof error.error_description === "string" ? error.error_description : error.error;
        throw new ApiRefusal(res.status, error.error, description);
      }
      throw new ApiRefusal(
        res.status,
        "",
        `${method} ${url.pathname} answered ${res.status} ${escapeControlChars(res.statusText)}${snippet(text)}`,
      );
    }
    if (body === undefined) {
      throw new NetworkError(
        `${method} ${url.pathname} answered ${res.status} without JSON: is ${this.baseUrl} a keygate?${snippet(text)}`,
      );
    }
    return { status: res.status, headers: res.headers, body };
  }

  /**
   * A listing whose body is a bare array, paged by `X-Next-Cursor`: the first page, or with
   * `all` every page. `more` says whether a next page was left unread.
   * @param {string} path
   * @param {Query} query
   * @param {boolean} all
   * @returns {Promise<{ items: unknown[], more: boolean }>}
   */
  async list(path, query, all) {
    /** @type {unknown[]} */
    const items = [];
    /** @type {string | undefined} */
    let cursor;
    for (let page = 0; page < MAX_PAGES; page++) {
      const res = await this.request("GET", path, { query: { ...query, cursor } });
      if (!Array.isArray(res.body)) throw new NetworkError(`GET ${path} did not answer with a JSON array`);
      items.push(...res.body);
      const next = res.headers.get("x-next-cursor") ?? undefined;
      if (next === undefined || next === "") return { items, more: false };
      if (!all) return { items, more: true };
      if (next === cursor) throw new NetworkError(`GET ${path} returned the same cursor twice`);
      cursor = next;
    }
    throw new NetworkError(`GET ${path}: more than ${MAX_PAGES} pages`);
  }
}

/**
 * Node's fetch says "fetch failed" and hides the reason (ECONNREFUSED, ENOTFOUND, ...) in `cause`.
 * @param {unknown} err
 */
function describeFetchError(err) {
  if (err instanceof Error && err.name === "TimeoutError") return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  const cause = err instanceof Error ? /** @type {{ cause?: unknown }} */ (err).cause : undefined;
  if (cause instanceof Error) return cause.message;
  return err instanceof Error ? err.message : String(err);
}

/** @param {string} text */
function snippet(text) {
  const line = escapeControlChars(text.trim().split("\n")[0]?.slice(0, 120) ?? "");
  return line === "" ? "" : `: ${line}`;
}
