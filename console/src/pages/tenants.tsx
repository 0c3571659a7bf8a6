/** The tenants the access token's tenants claim lists; one tenant goes straight to its keys. */
import { useEffect } from "preact/hooks";
import { navigate, routePath } from "../lib/router";
import { useApp } from "../ui/context";

export function TenantsPage() {
  const { session } = useApp();
  const only = session.tenants.length === 1 ? session.tenants[0] : undefined;
  useEffect(() => {
    if (only !== undefined) navigate(routePath({ page: "keys", tenant: only }), { replace: true });
  }, [only]);
  return (
    <>
      <h1 tabIndex={-1}>Choose a tenant</h1>
      {session.tenants.length === 0 ? (
        <div class="empty">
          <p>
            <strong>Your account may not manage any tenant.</strong> The access token from your identity provider lists no tenants in its
            tenants claim. Ask your administrator to add the tenants you manage to your account, then sign out and in again.
          </p>
        </div>
      ) : (
        <>
          <p>Your account may manage the API keys of these tenants.</p>
          <ul class="tenant-list">
            {session.tenants.map((tenant) => (
              <li key={tenant}>
                <a class="card-link" href={routePath({ page: "keys", tenant })}>
                  <span class="tenant-name">{tenant}</span>
                  <span class="muted">Keys, alerts and webhooks</span>
                </a>
              </li>
            ))}
          </ul>
        </>
      )}
    </>
  );
}
