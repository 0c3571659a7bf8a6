/** The least-privilege report: keys holding scopes they did not exercise within the window, and keys not used at all. */
import { loadScopeReport, REPORT_DAYS } from "../lib/governance";
import { routePath } from "../lib/router";
import { useApp } from "../ui/context";
import { ErrorMessage } from "../ui/error-message";
import { useAsync, useNow } from "../ui/hooks";
import { Time } from "../ui/time";

export function ReportPage({ tenant }: { tenant: string }) {
  const { api } = useApp();
  const now = useNow();
  const report = useAsync(() => loadScopeReport(api, tenant, REPORT_DAYS), [tenant]);
  const r = report.data;
  return (
    <>
      <div class="page-head">
        <h1 tabIndex={-1}>
          Least privilege <span class="muted">of {tenant}</span>
        </h1>
        <button type="button" onClick={report.reload}>
          Refresh
        </button>
      </div>
      {r ? (
        <p class="notice" data-window-days={r.window.days}>
          Window: the last {r.window.days} days (since <Time at={r.window.from} now={now} />
          ). A scope needed less often than that (a quarterly job, a yearly audit) reads as unexercised here: check before you narrow a key.
        </p>
      ) : null}
      <ErrorMessage error={report.error} context="The report could not be loaded" />
      {report.loading && !r ? <p class="muted">Loading the report…</p> : null}
      {r?.truncated ? <p class="notice">Showing the first pages of findings only; the API's scope-report pages through the rest.</p> : null}
      {r && r.keys.length === 0 ? <p class="empty">Every active key exercised every scope it holds within the window.</p> : null}
      {r && r.keys.length > 0 ? (
        <div class="table-wrap">
          <table class="report">
            <caption class="visually-hidden">Keys with unexercised scopes, or not used, within the window</caption>
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col">Unexercised scopes</th>
                <th scope="col">Exercised scopes</th>
                <th scope="col">Last used</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {r.keys.map((k) => (
                <tr key={k.key_id} data-key-id={k.key_id}>
                  <th scope="row">
                    <a href={routePath({ page: "key", tenant, keyId: k.key_id })}>{k.name}</a>
                    {k.unused ? <span class="badge warn">not used</span> : null}
                    <div class="mono small muted">{k.key_id}</div>
                  </th>
                  <td>
                    {k.unexercised_scopes.map((s) => (
                      <code key={s} class="chip warn">
                        {s}
                      </code>
                    ))}
                  </td>
                  <td>
                    {k.exercised_scopes.length === 0
                      ? "none"
                      : k.exercised_scopes.map((s) => (
                          <code key={s} class="chip">
                            {s}
                          </code>
                        ))}
                  </td>
                  <td>
                    <Time at={k.last_used} now={now} />
                  </td>
                  <td>
                    <Time at={k.created_at} now={now} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </>
  );
}
