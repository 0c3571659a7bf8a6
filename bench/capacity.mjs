#!/usr/bin/env node
// `npm run bench:capacity`: what each task that grows with the number of keys spends in one Worker
// invocation, against the state scripts/seed-capacity.mjs wrote (1,000,000 keys by default; one
// tenant of 100,000). Each measurement is one request to the capacity worker (bench/capacity/worker.ts),
// i.e. one invocation, and reports its wall time in workerd (local D1 is SQLite on this machine's disk:
// read times as an order of magnitude) and the counts that do not depend on the machine: D1 queries
// (statements), rows returned and written, the most parameters bound to one statement, KV operations.
// Prints a markdown table (docs/capacity.md keeps the last one) and writes bench/out/capacity-results.json.
//
//   npm run bench:capacity [-- --state bench/out/capacity-state] [--only usage-minute]
import path from "node:path";
import { parseArgs } from "node:util";
import { call, DEFAULT_STATE_DIR, startCapacityWorkerd, writeJson } from "./lib/capacity.mjs";
import { installSignalHandlers, log, runMain } from "./lib/lifecycle.mjs";
import { OUT } from "./lib/processes.mjs";

const BIG_TENANT = "capacity-big";
const EDGE = "(revoked = 1 OR rotation_cutoff_at IS NOT NULL OR rate_limits IS NOT NULL OR allowed_ips IS NOT NULL)";

function row(task, m, note = "") {
  const c = m.counts;
  return {
    task,
    ms: m.ms,
    d1Queries: c.d1Queries,
    rowsReturned: c.rowsReturned,
    rowsWritten: c.rowsWritten,
    maxBoundParams: c.maxBoundParams,
    kvOps: c.kvList + c.kvGet + c.kvPut + c.kvDelete,
    kvList: c.kvList,
    kvWrites: c.kvPut + c.kvDelete,
    note,
  };
}

/**
 * One minute of the mid-size customer (2,000 req/s over 10,000 keys: 60 queue batches of 2,000
 * events), rolled up batch by batch, then held and rolled up once as an aggregator shard does.
 */
async function usageMinute(url, now, rows) {
  for (const mode of ["direct", "aggregated"]) {
    const m = await call(url, `/rollup-minute?mode=${mode}&batches=60&messages=20&events=100&keys=10000&tenants=200&now=${now}`);
    const perSecond = Math.round(m.counts.rowsWritten / 60);
    rows.push(
      row(
        `roll-up of one minute at 2,000 req/s over 10,000 keys, ${mode === "direct" ? "each of 60 queue batches at once (USAGE_AGGREGATE_SECONDS = 0)" : "held and rolled up once (an aggregator flush)"}`,
        m,
        `${m.counts.rowsWritten.toLocaleString("en-US")} rows written: ${perSecond.toLocaleString("en-US")} rows/s of D1 writes`,
      ),
    );
  }
}

async function main() {
  installSignalHandlers();
  const { values } = parseArgs({ options: { state: { type: "string", default: DEFAULT_STATE_DIR }, only: { type: "string" } } });
  const { mf, url, db } = await startCapacityWorkerd({ stateDir: path.resolve(values.state) });
  const n = async (sql, ...binds) =>
    (
      await db
        .prepare(sql)
        .bind(...binds)
        .first()
    ).n;
  const now = Math.floor(Date.now() / 1000);
  if (values.only === "usage-minute") {
    // The roll-up's writes alone: no seeded state needed.
    const rows = [];
    await usageMinute(url, now, rows);
    console.log(
      rows.map((r) => `| ${r.task} | ${r.ms} | ${r.d1Queries} | ${r.rowsWritten.toLocaleString("en-US")} | ${r.note} |`).join("\n"),
    );
    await mf.dispose();
    return;
  }
  const keys = await n("SELECT count(*) AS n FROM api_keys");
  const edgeRows = await n(`SELECT count(*) AS n FROM api_keys WHERE ${EDGE} AND (expires_at IS NULL OR expires_at > ?)`, now);
  log(`state: ${keys.toLocaleString("en-US")} keys, ${edgeRows.toLocaleString("en-US")} calling for an edge record`);
  const rows = [];
  const plans = {};
  const plan = async (name, sql) => {
    plans[name] = await call(url, `/plan?sql=${encodeURIComponent(sql)}`);
  };

  // List pagination: the big tenant's first page, a page 50,000 keys deep (by cursor), filtered pages.
  const depth = Math.min(50_000, Math.floor((await n("SELECT count(*) AS n FROM api_keys WHERE tenant_id = ?", BIG_TENANT)) / 2));
  const deep = await n("SELECT seq AS n FROM api_keys WHERE tenant_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?", BIG_TENANT, depth);
  for (const [name, query] of [
    ["list: first page (100)", ""],
    [`list: page ${depth.toLocaleString("en-US")} keys deep (cursor)`, `&cursor=${deep}`],
    ["list: first page, status=revoked", "&status=revoked"],
    ["list: first page, status=active", "&status=active"],
    ["list: first page, unused 90 days", "&unused_days=90"],
  ]) {
    rows.push(row(name, await call(url, `/list?tenant=${BIG_TENANT}&limit=100&now=${now}${query}`)));
  }
  await plan(
    "list",
    `SELECT * FROM api_keys WHERE tenant_id = '${BIG_TENANT}' AND seq < ${deep} AND revoked = 1 ORDER BY seq DESC LIMIT 101`,
  );

  // The reconciler: whole passes from the start, each run one invocation; then a pass that repairs
  // 1,000 lost revocations (KV entries deleted behind D1).
  await db.prepare("DELETE FROM cron_cursors WHERE name = 'reconcile-edge-records'").run();
  const pass = async (label) => {
    const runs = [];
    for (let i = 0; i < 100; i++) {
      const m = await call(url, `/reconcile?now=${now}`);
      runs.push(m);
      if (m.result.passCompleted) break;
    }
    const worst = runs.reduce((a, b) => (b.counts.d1Queries + b.counts.kvList > a.counts.d1Queries + a.counts.kvList ? b : a));
    const repaired = runs.reduce((s, r) => s + r.result.repaired, 0);
    const checked = runs.reduce((s, r) => s + r.result.checked, 0);
    rows.push(
      row(
        `reconciler: ${label}, busiest run of ${runs.length}`,
        worst,
        `pass: ${runs.length} run(s), ${checked.toLocaleString("en-US")} keys checked, ${repaired} repaired; slowest run ${Math.max(...runs.map((r) => r.ms))} ms`,
      ),
    );
    return runs;
  };
  await pass("a pass, KV in line");
  const lost = (
    await db.prepare(`SELECT id FROM api_keys WHERE revoked = 1 AND (expires_at IS NULL OR expires_at > ?) LIMIT 1000`).bind(now).all()
  ).results;
  const kv = await mf.getKVNamespace("EDGE_RECORDS");
  for (const { id } of lost) await kv.delete(`key-state:${id}`);
  await pass("a pass after 1,000 lost revocations");
  await plan(
    "reconciler range",
    `SELECT id FROM api_keys WHERE id > 'key-4' AND id <= 'key-5' AND ${EDGE} AND (expires_at IS NULL OR expires_at > ${now}) ORDER BY id LIMIT 1000`,
  );

  // The time-driven detectors: three cron runs (each raises at most 200 alerts per detector).
  for (let i = 1; i <= 3; i++) {
    const m = await call(url, `/detectors?now=${now}`);
    rows.push(row(`detectors (key_expiring + key_unused), run ${i}`, m, `${m.result.raised} alerts raised`));
  }
  // Worst case: nothing to raise, so each detector scans every key (a clock 800 days back: no key is
  // idle or about to expire then).
  const idle = await call(url, `/detectors?now=${now - 800 * 86_400}`);
  rows.push(row("detectors, nothing to raise (each scans all keys)", idle, `${idle.result.raised} alerts raised`));
  await plan(
    "detector key_unused",
    `SELECT k.id FROM api_keys k LEFT JOIN tenant_settings s ON s.tenant_id = k.tenant_id WHERE k.revoked = 0 AND k.replaced_by IS NULL AND (k.expires_at IS NULL OR k.expires_at > ${now}) AND COALESCE(s.unused_days, 90) > 0 AND COALESCE(k.last_used, k.created_at) <= ${now} - COALESCE(s.unused_days, 90) * 86400 AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.dedupe_key = 'key_unused:' || k.id || ':' || COALESCE(k.last_used, 'never')) LIMIT 200`,
  );

  // Retention: a backlog of 200,000 expired minute roll-ups (if the seed left none), then runs until
  // nothing is left to prune (at most 5).
  if ((await n("SELECT count(*) AS n FROM usage_counts WHERE granularity = 'minute' AND bucket < ?", now - 8 * 86_400)) === 0) {
    for (let i = 0; i < 200_000; i += 10_000) {
      await db
        .prepare(
          `WITH RECURSIVE s(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM s WHERE i < ?2)
           INSERT OR IGNORE INTO usage_counts (granularity, tenant_id, key_id, bucket, outcome, count)
           SELECT 'minute', 'capacity-t000', 'key-old-' || (i % 200), ?3 - 9 * 86400 + (i / 200) * 60, 'accepted', 1 FROM s`,
        )
        .bind(i, i + 9_999, now)
        .run();
    }
  }
  for (let i = 1; i <= 5; i++) {
    const m = await call(url, `/retention?now=${now}`);
    rows.push(row(`retention, run ${i}`, m, `${m.result.deleted.toLocaleString("en-US")} rows deleted`));
    if (m.result.deleted === 0) break;
  }

  // The edge change feed: an isolate's first poll, a steady poll, and polls after a burst of 6,000 changes.
  rows.push(row("feed poll: first (last 100 s)", await call(url, `/feed-poll?now=${now}`)));
  rows.push(row("feed poll: steady (5 s later)", await call(url, `/feed-poll?now=${now + 5}`)));
  await db
    .prepare("INSERT INTO edge_changes (key_id, at) SELECT id, ? FROM api_keys WHERE revoked = 1 LIMIT 6000")
    .bind(now + 6)
    .run();
  for (let i = 1; i <= 2; i++) {
    const m = await call(url, `/feed-poll?now=${now + 5 + i * 5}`);
    rows.push(row(`feed poll ${i} after 6,000 changes`, m, `${m.result.changes} changes, caught up: ${m.result.complete}`));
  }

  // The usage roll-up: one queue batch (one consumer invocation) as traffic would fill it, from few to
  // many distinct keys. Rows written per million requests and queries per invocation are what bind.
  for (const [messages, events, keys, tenants, limitedEvery] of [
    [100, 400, 200, 20, 0],
    [20, 100, 2_000, 200, 0],
    [100, 100, 10_000, 200, 0],
    [20, 100, 2_000, 200, 8],
  ]) {
    const m = await call(
      url,
      `/rollup?messages=${messages}&events=${events}&keys=${keys}&tenants=${tenants}&limited_every=${limitedEvery}&now=${now}`,
    );
    const perMillion = Math.round((m.counts.rowsWritten / m.result.events) * 1e6);
    const storm = limitedEvery ? `, 1 in ${limitedEvery} rate limited (a first rate_limited alert for each key)` : "";
    rows.push(
      row(
        `roll-up: one queue batch of ${(messages * events).toLocaleString("en-US")} events, ${Math.min(keys, messages * events).toLocaleString("en-US")} keys${storm}`,
        m,
        `${perMillion.toLocaleString("en-US")} rows written per million requests; ${Math.round(m.result.events / (m.ms / 1000)).toLocaleString("en-US")} events/s`,
      ),
    );
  }

  await usageMinute(url, now, rows);

  const results = { at: new Date().toISOString(), keys, edgeRows, rows, plans };
  writeJson(path.join(OUT, "capacity-results.json"), results);
  console.log(
    [
      "| task (one invocation) | wall ms | D1 queries | rows returned | rows written | max bound params | KV ops (list) | KV writes | note |",
      "|---|---:|---:|---:|---:|---:|---:|---:|---|",
      ...rows.map(
        (r) =>
          `| ${r.task} | ${r.ms} | ${r.d1Queries} | ${r.rowsReturned.toLocaleString("en-US")} | ${r.rowsWritten.toLocaleString("en-US")} | ${r.maxBoundParams} | ${r.kvOps} (${r.kvList}) | ${r.kvWrites} | ${r.note} |`,
      ),
    ].join("\n"),
  );
  console.log(JSON.stringify(plans, null, 2));
}

runMain(main);
