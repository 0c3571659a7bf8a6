/**
 * The console's shell: sign-in page when signed out; otherwise header (tenant, sections, user,
 * sign-out) and the page of the current route. Moving to a page moves focus to its heading, so
 * keyboard and screen-reader users land where the new content starts.
 */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ApiClient } from "./lib/api";
import { beginSignIn, type ConsoleConfig } from "./lib/oidc";
import { allows, loadOperationRoles, type OperationRoles, sessionRole } from "./lib/permissions";
import { navigate, onNavigate, parseRoute, type Route, routePath } from "./lib/router";
import { clearSession, type Session } from "./lib/session";
import { AlertsPage } from "./pages/alerts";
import { KeyPage } from "./pages/key";
import { KeysPage } from "./pages/keys";
import { LimitGroupsPage } from "./pages/limit-groups";
import { ReportPage } from "./pages/report";
import { TenantsPage } from "./pages/tenants";
import { WebhooksPage } from "./pages/webhooks";
import { AppContext } from "./ui/context";
import { ErrorMessage } from "./ui/error-message";

export interface AppProps {
  config: ConsoleConfig | null;
  configError: unknown;
  session: Session | null;
  signInError: unknown;
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.pathname));
  useEffect(() => onNavigate(() => setRoute(parseRoute(location.pathname))), []);
  return route;
}

/** Follows same-origin links inside the console without reloading the page. */
function onLinkClick(e: MouseEvent) {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element).closest("a");
  if (!a || a.target || a.origin !== location.origin || !a.pathname.startsWith("/console/")) return;
  e.preventDefault();
  if (a.pathname !== location.pathname) navigate(a.pathname + a.search);
}

function SignInPage({
  config,
  configError,
  signInError,
  ended,
}: {
  config: ConsoleConfig | null;
  configError: unknown;
  signInError: unknown;
  ended: boolean;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const start = async () => {
    if (!config) return;
    setBusy(true);
    try {
      location.assign(
        await beginSignIn(config, sessionStorage, location.origin, location.pathname + location.search, Math.floor(Date.now() / 1000)),
      );
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <main id="main" class="sign-in">
      <h1 tabIndex={-1}>keygate console</h1>
      <p>Manage your tenants' API keys: create, rotate and revoke keys, and see how they are used.</p>
      {ended ? <p class="notice">Your session has ended. Sign in again to continue.</p> : null}
      <ErrorMessage error={configError} context="The console cannot sign you in" />
      <ErrorMessage error={signInError} context="Sign-in failed" />
      <ErrorMessage error={error} context="Sign-in failed" />
      <button type="button" class="primary large" onClick={start} disabled={!config || busy}>
        {busy ? "Redirecting…" : "Sign in"}
      </button>
      {config ? <p class="muted small">You will sign in at {new URL(config.issuer).host}.</p> : null}
    </main>
  );
}

/** The API reference (Swagger UI over /api/v1/openapi.json): what the console's calls are, for people scripting them. */
function Footer() {
  return (
    <footer class="site-footer">
      <a href="/api/v1/docs">API reference</a>
      <span aria-hidden="true"> · </span>
      <a href="/api/v1/openapi.json">OpenAPI document</a>
    </footer>
  );
}

function tenantOf(route: Route): string | null {
  return "tenant" in route ? route.tenant : null;
}

function Header({
  session,
  route,
  onSignOut,
  can,
}: {
  session: Session;
  route: Route;
  onSignOut: () => void;
  can: (tenant: string, op: string) => boolean;
}) {
  const tenant = tenantOf(route);
  const sections = tenant
    ? [
        { label: "Keys", path: routePath({ page: "keys", tenant }), active: route.page === "keys" || route.page === "key" },
        { label: "Least privilege", path: routePath({ page: "report", tenant }), active: route.page === "report" },
        { label: "Alerts", path: routePath({ page: "alerts", tenant }), active: route.page === "alerts" },
        { label: "Webhooks", path: routePath({ page: "webhooks", tenant }), active: route.page === "webhooks", op: "listWebhooks" },
        {
          label: "Limit groups",
          path: routePath({ page: "limit-groups", tenant }),
          active: route.page === "limit-groups",
          op: "listLimitGroups",
        },
      ].filter((s) => !("op" in s) || can(tenant, s.op as string))
    : [];
  return (
    <header class="top">
      <a class="brand" href="/console/">
        keygate
      </a>
      {tenant ? (
        <label class="tenant-switch">
          <span>Tenant</span>
          <select
            value={tenant}
            onChange={(e) => navigate(routePath({ page: "keys", tenant: (e.currentTarget as HTMLSelectElement).value }))}
          >
            {(session.tenants.includes(tenant) ? session.tenants : [tenant, ...session.tenants]).map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
      ) : null}
      {sections.length > 0 ? (
        <nav aria-label="Sections">
          <ul>
            {sections.map((s) => (
              <li key={s.path}>
                <a href={s.path} aria-current={s.active ? "page" : undefined}>
                  {s.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      ) : null}
      <div class="user">
        <span class="muted">Signed in as</span> <strong>{session.subject || "unknown user"}</strong>
        {tenant ? (
          <span class="role-badge" data-role={sessionRole(session, tenant) ?? "none"}>
            {sessionRole(session, tenant) ?? "no role"}
          </span>
        ) : null}
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </div>
    </header>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case "home":
      return <TenantsPage />;
    case "keys":
      return <KeysPage tenant={route.tenant} />;
    case "key":
      return <KeyPage tenant={route.tenant} keyId={route.keyId} />;
    case "alerts":
      return <AlertsPage tenant={route.tenant} />;
    case "report":
      return <ReportPage tenant={route.tenant} />;
    case "webhooks":
      return <WebhooksPage tenant={route.tenant} />;
    case "limit-groups":
      return <LimitGroupsPage tenant={route.tenant} />;
    case "not-found":
      return (
        <>
          <h1 tabIndex={-1}>Page not found</h1>
          <p>
            There is no console page at this address. <a href="/console/">Choose a tenant</a>.
          </p>
        </>
      );
  }
}

export function App(props: AppProps) {
  const [session, setSession] = useState(props.session);
  const [ended, setEnded] = useState(false);
  const route = useRoute();
  const mainRef = useRef<HTMLElement>(null);
  const firstRender = useRef(true);

  // The session ends when its access token does; the API would refuse it from then on.
  useEffect(() => {
    if (!session) return;
    const ms = Math.max(0, session.expiresAt * 1000 - Date.now());
    const timer = setTimeout(
      () => {
        clearSession(sessionStorage);
        setSession(null);
        setEnded(true);
      },
      Math.min(ms, 2 ** 31 - 1),
    );
    return () => clearTimeout(timer);
  }, [session]);

  // Runs on every route change (route is a new object each time).
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    mainRef.current?.querySelector<HTMLElement>("h1")?.focus();
  }, [route]);

  // The role each operation needs, from the route table through the OpenAPI document; controls stay hidden until it is known.
  const [operationRoles, setOperationRoles] = useState<OperationRoles | null>(null);
  useEffect(() => {
    if (!session) return;
    loadOperationRoles(new ApiClient({ token: () => null })).then(setOperationRoles, (err) =>
      console.error("the OpenAPI document could not be loaded: controls that change things stay hidden", err),
    );
  }, [session]);

  const context = useMemo(() => {
    if (!session) return null;
    return {
      session,
      can: (tenant: string, operationId: string) => allows(operationRoles, session, tenant, operationId),
      api: new ApiClient({ token: () => session.accessToken }),
      signIn: () => {
        if (!props.config) return;
        beginSignIn(props.config, sessionStorage, location.origin, location.pathname + location.search, Math.floor(Date.now() / 1000)).then(
          (url) => location.assign(url),
        );
      },
    };
  }, [session, props.config, operationRoles]);

  if (!session || !context) {
    return (
      <>
        <SignInPage config={props.config} configError={props.configError} signInError={props.signInError} ended={ended} />
        <Footer />
      </>
    );
  }
  const signOut = () => {
    clearSession(sessionStorage);
    setSession(null);
    navigate("/console/", { replace: true });
  };
  return (
    <AppContext.Provider value={context}>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <Header session={session} route={route} onSignOut={signOut} can={context.can} />
      {/* biome-ignore lint/a11y/useKeyWithClickEvents: link clicks are keyboard-activated already; this only routes them. */}
      <main id="main" ref={mainRef} onClick={onLinkClick} data-roles={operationRoles ? "loaded" : "loading"}>
        <Page route={route} />
      </main>
      <Footer />
    </AppContext.Provider>
  );
}
