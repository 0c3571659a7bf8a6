/** The tenant's keys: a sortable, filterable table, and the create / rotate / revoke dialogs. */
import { useId, useMemo, useState } from "preact/hooks";
import { type ApiClient, tenantPath } from "../lib/api";
import { loadScopeReport, REPORT_DAYS } from "../lib/governance";
import {
  DEFAULT_FILTER,
  DEFAULT_SORT,
  isUsable,
  type KeyFilter,
  type KeyFilterKind,
  type KeySort,
  keyStatus,
  matchesFilter,
  nextSort,
  type SortColumn,
  sortKeys,
} from "../lib/keys-table";
import { routePath } from "../lib/router";
import type { KeyView } from "../lib/types";
import { useApp } from "../ui/context";
import { ErrorMessage } from "../ui/error-message";
import { useAsync, useNow } from "../ui/hooks";
import { KeyLimits, StatusBadge } from "../ui/key-bits";
import { Time } from "../ui/time";
import { CreateKeyDialog, RevokeKeyDialog, RotateKeyDialog } from "./key-dialogs";

/** The list endpoint's largest page, and how many pages the table loads before it says it stopped. */
const PAGE_LIMIT = 1000;
const MAX_PAGES = 10;

async function loadAllKeys(api: ApiClient, tenant: string): Promise<{ keys: KeyView[]; truncated: boolean }> {
  const keys: KeyView[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const result: { items: KeyView[]; nextCursor: string | null } = await api.page<KeyView>(tenantPath(tenant, "api-keys", "list"), {
      limit: PAGE_LIMIT,
      cursor,
    });
    keys.push(...result.items);
    cursor = result.nextCursor;
    if (!cursor) return { keys, truncated: false };
  }
  return { keys, truncated: true };
}

const FILTERS: { kind: KeyFilterKind; label: string }[] = [
  { kind: "all", label: "All keys" },
  { kind: "active", label: "Active" },
  { kind: "revoked", label: "Revoked" },
  { kind: "expired", label: "Expired" },
  { kind: "rotated", label: "Rotated" },
  { kind: "expiring", label: "Expiring soon" },
  { kind: "unused", label: "Unused" },
];

const COLUMNS: { column: SortColumn | null; label: string }[] = [
  { column: "name", label: "Name" },
  { column: "status", label: "Status" },
  { column: null, label: "Scopes" },
  { column: "created_at", label: "Created" },
  { column: "expires_at", label: "Expires" },
  { column: "last_used", label: "Last used" },
  { column: null, label: "Limits" },
  { column: null, label: "Actions" },
];

type Modal = { kind: "create" } | { kind: "revoke"; key: KeyView } | { kind: "rotate"; key: KeyView } | null;

function Filters({ filter, onChange }: { filter: KeyFilter; onChange: (f: KeyFilter) => void }) {
  const ids = { show: useId(), days: useId(), text: useId() };
  const needsDays = filter.kind === "expiring" || filter.kind === "unused";
  return (
    <fieldset class="filters">
      <legend class="visually-hidden">Filter keys</legend>
      <div class="field inline">
        <label for={ids.show}>Show</label>
        <select id={ids.show} value={filter.kind} onChange={(e) => onChange({ ...filter, kind: e.currentTarget.value as KeyFilterKind })}>
          {FILTERS.map((f) => (
            <option key={f.kind} value={f.kind}>
              {f.label}
            </option>
          ))}
        </select>
      </div>
      {needsDays ? (
        <div class="field inline">
          <label for={ids.days}>{filter.kind === "expiring" ? "Expiring within (days)" : "Not used for (days)"}</label>
          <input
            id={ids.days}
            type="number"
            min={0}
            max={36500}
            class="narrow"
            value={filter.days}
            onInput={(e) => {
              const days = Number(e.currentTarget.value);
              if (Number.isInteger(days) && days >= 0) onChange({ ...filter, days });
            }}
          />
        </div>
      ) : null}
      <div class="field inline grow">
        <label for={ids.text}>Search</label>
        <input
          id={ids.text}
          type="search"
          placeholder="Name, id or scope"
          value={filter.text}
          onInput={(e) => onChange({ ...filter, text: e.currentTarget.value })}
        />
      </div>
    </fieldset>
  );
}

export function KeysPage({ tenant }: { tenant: string }) {
  const { api, can } = useApp();
  const now = useNow();
  const list = useAsync(() => loadAllKeys(api, tenant), [tenant]);
  // Unexercised scopes per key, for the badge; the table does without them if the report cannot be read.
  const report = useAsync(() => loadScopeReport(api, tenant, REPORT_DAYS), [tenant]);
  const unexercised = useMemo(
    () => new Map((report.data?.keys ?? []).filter((k) => k.unexercised_scopes.length > 0).map((k) => [k.key_id, k.unexercised_scopes])),
    [report.data],
  );
  const mayCreate = can(tenant, "createApiKey");
  const [filter, setFilter] = useState<KeyFilter>(DEFAULT_FILTER);
  const [sort, setSort] = useState<KeySort>(DEFAULT_SORT);
  const [modal, setModal] = useState<Modal>(null);

  const rows = useMemo(() => {
    const keys = list.data?.keys ?? [];
    return sortKeys(
      keys.filter((k) => matchesFilter(k, filter, now)),
      sort,
      now,
    );
  }, [list.data, filter, sort, now]);
  const total = list.data?.keys.length ?? 0;

  return (
    <>
      <div class="page-head">
        <h1 tabIndex={-1}>
          API keys <span class="muted">of {tenant}</span>
        </h1>
        {mayCreate ? (
          <button type="button" class="primary" onClick={() => setModal({ kind: "create" })}>
            Create key
          </button>
        ) : null}
      </div>
      <ErrorMessage error={list.error} context="The keys could not be loaded" />
      {list.data || !list.error ? <Filters filter={filter} onChange={setFilter} /> : null}
      {list.loading && !list.data ? <p class="muted">Loading keys…</p> : null}
      {list.data?.truncated ? (
        <p class="notice">Showing the newest {total} keys only; use the API's list endpoint to page through the rest.</p>
      ) : null}
      {list.data && total === 0 ? (
        <div class="empty">
          <p>
            <strong>This tenant has no API keys yet.</strong> Create one for each client (a CI pipeline, a service, a partner), with only
            the scopes it needs.
          </p>
          {mayCreate ? (
            <button type="button" class="primary" onClick={() => setModal({ kind: "create" })}>
              Create the first key
            </button>
          ) : null}
        </div>
      ) : null}
      {list.data && total > 0 ? (
        <>
          <p class="muted" aria-live="polite">
            {rows.length === total ? `${total} ${total === 1 ? "key" : "keys"}` : `${rows.length} of ${total} keys match`}
          </p>
          <div class="table-wrap">
            <table class="keys">
              <caption class="visually-hidden">API keys of {tenant}; column headers with buttons sort the table</caption>
              <thead>
                <tr>
                  {COLUMNS.map(({ column, label }) => (
                    <th key={label} scope="col" aria-sort={column && sort.column === column ? sort.direction : undefined}>
                      {column ? (
                        <button type="button" class="sort" onClick={() => setSort(nextSort(sort, column))}>
                          {label}
                          <span aria-hidden="true" class="sort-mark">
                            {sort.column === column ? (sort.direction === "ascending" ? " ▲" : " ▼") : ""}
                          </span>
                        </button>
                      ) : (
                        label
                      )}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {rows.map((key) => (
                  <tr key={key.id} data-key-id={key.id}>
                    <th scope="row">
                      <a href={routePath({ page: "key", tenant, keyId: key.id })}>{key.name}</a>
                      <div class="mono small muted">{key.id}</div>
                    </th>
                    <td>
                      <StatusBadge status={keyStatus(key, now)} />
                    </td>
                    <td>
                      <ul class="scopes">
                        {key.scopes.map((s) => (
                          <li key={s}>
                            <code>{s}</code>
                          </li>
                        ))}
                      </ul>
                      {unexercised.has(key.id) ? (
                        <a
                          class="badge warn"
                          href={routePath({ page: "key", tenant, keyId: key.id })}
                          title={`Not exercised in the last ${report.data?.window.days ?? REPORT_DAYS} days: ${unexercised.get(key.id)?.join(", ")}`}
                        >
                          {unexercised.get(key.id)?.length} unexercised
                        </a>
                      ) : null}
                    </td>
                    <td>
                      <Time at={key.created_at} now={now} />
                    </td>
                    <td>
                      <Time at={key.expires_at} now={now} never="never expires" />
                    </td>
                    <td>
                      <Time at={key.last_used} now={now} />
                    </td>
                    <td>
                      <KeyLimits apiKey={key} />
                    </td>
                    <td class="row-actions">
                      {isUsable(key, now) && keyStatus(key, now) === "active" && can(tenant, "rotateApiKey") ? (
                        <button type="button" onClick={() => setModal({ kind: "rotate", key })} aria-label={`Rotate ${key.name}`}>
                          Rotate
                        </button>
                      ) : null}
                      {!key.revoked && can(tenant, "revokeApiKey") ? (
                        <button
                          type="button"
                          class="danger"
                          onClick={() => setModal({ kind: "revoke", key })}
                          aria-label={`Revoke ${key.name}`}
                        >
                          Revoke
                        </button>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {rows.length === 0 ? <p class="empty">No key matches these filters.</p> : null}
        </>
      ) : null}
      {modal?.kind === "create" ? <CreateKeyDialog tenant={tenant} onClose={() => setModal(null)} onCreated={list.reload} /> : null}
      {modal?.kind === "revoke" ? (
        <RevokeKeyDialog tenant={tenant} apiKey={modal.key} onClose={() => setModal(null)} onRevoked={list.reload} />
      ) : null}
      {modal?.kind === "rotate" ? (
        <RotateKeyDialog tenant={tenant} apiKey={modal.key} onClose={() => setModal(null)} onRotated={list.reload} />
      ) : null}
    </>
  );
}
