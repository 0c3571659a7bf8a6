/** The console's routes, all under /console/, with the History API (the worker serves the app for any of them). */

export type Route =
  | { page: "home" }
  | { page: "keys"; tenant: string }
  | { page: "key"; tenant: string; keyId: string }
  | { page: "alerts"; tenant: string }
  | { page: "report"; tenant: string }
  | { page: "webhooks"; tenant: string }
  | { page: "limit-groups"; tenant: string }
  | { page: "not-found" };

const BASE = "/console";

function decode(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

export function parseRoute(pathname: string): Route {
  if (pathname === `${BASE}/` || pathname === BASE) return { page: "home" };
  if (!pathname.startsWith(`${BASE}/`)) return { page: "not-found" };
  const parts = pathname
    .slice(BASE.length + 1)
    .replace(/\/$/, "")
    .split("/")
    .map(decode);
  if (parts.some((p) => p === null || p === "")) return { page: "not-found" };
  const [t, tenant, section, id, ...rest] = parts as string[];
  if (t !== "t" || tenant === undefined || rest.length > 0) return { page: "not-found" };
  if (section === "keys" && id === undefined) return { page: "keys", tenant };
  if (section === "keys" && id !== undefined) return { page: "key", tenant, keyId: id };
  if (section === "alerts" && id === undefined) return { page: "alerts", tenant };
  if (section === "least-privilege" && id === undefined) return { page: "report", tenant };
  if (section === "webhooks" && id === undefined) return { page: "webhooks", tenant };
  if (section === "limit-groups" && id === undefined) return { page: "limit-groups", tenant };
  return { page: "not-found" };
}

export function routePath(route: Route): string {
  switch (route.page) {
    case "home":
    case "not-found":
      return `${BASE}/`;
    case "keys":
      return `${BASE}/t/${encodeURIComponent(route.tenant)}/keys`;
    case "key":
      return `${BASE}/t/${encodeURIComponent(route.tenant)}/keys/${encodeURIComponent(route.keyId)}`;
    case "alerts":
      return `${BASE}/t/${encodeURIComponent(route.tenant)}/alerts`;
    case "report":
      return `${BASE}/t/${encodeURIComponent(route.tenant)}/least-privilege`;
    case "webhooks":
      return `${BASE}/t/${encodeURIComponent(route.tenant)}/webhooks`;
    case "limit-groups":
      return `${BASE}/t/${encodeURIComponent(route.tenant)}/limit-groups`;
  }
}

const NAVIGATE_EVENT = "keygate:navigate";

export function navigate(path: string, options: { replace?: boolean } = {}): void {
  if (options.replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  window.dispatchEvent(new Event(NAVIGATE_EVENT));
}

/** Calls `listener` on back/forward and on navigate(). Returns the unsubscribe function. */
export function onNavigate(listener: () => void): () => void {
  window.addEventListener("popstate", listener);
  window.addEventListener(NAVIGATE_EVENT, listener);
  return () => {
    window.removeEventListener("popstate", listener);
    window.removeEventListener(NAVIGATE_EVENT, listener);
  };
}
