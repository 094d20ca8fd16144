// Weft dashboard: plain ES module, hash routes, the JSON API under /api/ (docs/dashboard.md).
import { drawDag, setProgress, setState } from "/dag.js";

const main = document.getElementById("main");
let config = { readOnly: true, store: "" };
let live; // the open EventSource of the run page

/** An element: h("td", { class: "x" }, "text", child...). Text is never parsed as HTML. */
const h = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, String(v));
  }
  for (const k of kids.flat())
    if (k !== undefined && k !== null) e.append(k instanceof Node ? k : String(k));
  return e;
};
const time = (ms) =>
  ms === undefined ? "" : new Date(ms).toISOString().replace("T", " ").slice(0, 23);
const dur = (a, b) => (a === undefined || b === undefined ? "" : `${b - a} ms`);
const pill = (s) => h("span", { class: `pill s-${s}` }, s);
const api = async (path, init) => {
  const r = await fetch(`/api${path}`, init);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error ?? `HTTP ${r.status}`);
  return body;
};
const table = (heads, rows) =>
  h(
    "table",
    {},
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        heads.map((t) => h("th", {}, t)),
      ),
    ),
    h("tbody", {}, rows),
  );
/** Replaces `e`'s children with `kids` (arrays flattened, empty ones dropped). */
const fill = (e, ...kids) => e.replaceChildren(...kids.flat().filter((k) => k !== "" && k != null));
const json = (v) => h("pre", {}, JSON.stringify(v, null, 2));

const cancelButton = (runId, after) =>
  config.readOnly
    ? null
    : h(
        "button",
        {
          class: "danger",
          id: "cancel",
          onclick: async () => {
            if (!confirm(`Cancel run ${runId}?`)) return;
            const r = await api(`/runs/${encodeURIComponent(runId)}/cancel`, {
              method: "POST",
              headers: { "X-Weft-Action": "1" },
            });
            after(r);
          },
        },
        "Cancel run",
      );

/** Re-drives a failed or cancelled run (`POST /api/runs/:id/redrive`); hidden when read-only. */
const redriveButton = (runId, after) =>
  config.readOnly
    ? null
    : h(
        "button",
        {
          id: "redrive",
          title:
            "Run the failed, skipped and cancelled nodes again; succeeded nodes keep their results",
          onclick: async () => {
            if (!confirm(`Re-drive run ${runId}?`)) return;
            const r = await api(`/runs/${encodeURIComponent(runId)}/redrive`, {
              method: "POST",
              headers: { "X-Weft-Action": "1" },
            });
            after(r);
          },
        },
        "Re-drive run",
      );

async function runsPage(params) {
  const q = new URLSearchParams(params);
  const limit = 50;
  const offset = Number(q.get("offset") ?? 0);
  const data = await api(`/runs?${q}&limit=${limit}`);
  const field = (name, ph) => h("input", { name, placeholder: ph, value: q.get(name) ?? "" });
  const status = h(
    "select",
    { name: "status" },
    ["", "pending", "running", "succeeded", "failed", "cancelled"].map((s) =>
      h("option", { value: s, selected: q.get("status") === s }, s || "any status"),
    ),
  );
  const form = h(
    "form",
    {
      class: "filters",
      onsubmit: (ev) => {
        ev.preventDefault();
        const f = new URLSearchParams();
        for (const [k, v] of new FormData(form)) if (v) f.set(k, String(v));
        location.hash = `#/runs?${f}`;
      },
    },
    field("id", "run id"),
    status,
    field("task", "first task"),
    field("tag", "tag"),
    field("from", "from (ISO or ms)"),
    field("to", "to (ISO or ms)"),
    h("button", {}, "Filter"),
  );
  const page = (o) => {
    const p = new URLSearchParams(q);
    p.set("offset", String(o));
    return `#/runs?${p}`;
  };
  main.replaceChildren(
    h("h1", {}, "Runs"),
    form,
    table(
      ["run", "status", "first task", "nodes", "tags", "created", "took"],
      data.runs.map((r) =>
        h(
          "tr",
          { "data-run-id": r.id },
          h("td", {}, h("a", { href: `#/run/${encodeURIComponent(r.id)}` }, r.id)),
          h("td", {}, pill(r.status)),
          h("td", {}, r.task),
          h("td", {}, `${r.ended}/${r.total}`),
          h("td", {}, (r.tags ?? []).join(", ")),
          h("td", {}, time(r.createdAt)),
          h("td", {}, dur(r.createdAt, r.finishedAt)),
        ),
      ),
    ),
    h(
      "p",
      {},
      offset > 0 ? h("a", { href: page(Math.max(0, offset - limit)) }, "← newer") : "",
      " ",
      data.more ? h("a", { href: page(offset + limit) }, "older →") : "",
    ),
  );
}

function timeline(nodes) {
  const spans = nodes.flatMap((n) => n.history.map((a) => ({ n, a })));
  if (spans.length === 0) return h("p", { class: "muted" }, "No attempts yet.");
  const t0 = Math.min(...spans.map((s) => s.a.startedAt));
  const t1 = Math.max(...spans.map((s) => s.a.endedAt));
  const span = Math.max(1, t1 - t0);
  const shown = spans.slice(0, 500);
  return h(
    "div",
    {},
    shown.map(({ n, a }) =>
      h(
        "div",
        { class: "tl-row" },
        h("span", { class: "tl-label" }, `#${n.id} ${n.task} a${a.attempt}`),
        h(
          "span",
          { class: "tl-track" },
          h("span", {
            class: `tl-bar s-${a.outcome}`,
            title: `${a.outcome} on ${a.worker}, ${a.endedAt - a.startedAt} ms`,
            style: `left:${((a.startedAt - t0) / span) * 100}%;width:${Math.max(0.3, ((a.endedAt - a.startedAt) / span) * 100)}%`,
          }),
        ),
      ),
    ),
    spans.length > shown.length
      ? h("p", { class: "muted" }, `… ${spans.length - shown.length} more attempts`)
      : "",
    h("p", { class: "muted" }, `${time(t0)} → ${time(t1)} (${t1 - t0} ms)`),
  );
}

async function nodePanel(panel, runId, nodeId) {
  panel.replaceChildren(h("p", {}, "Loading…"));
  const n = await api(`/runs/${encodeURIComponent(runId)}/nodes/${nodeId}`);
  fill(
    panel,
    h("h2", {}, `#${n.id} ${n.task} `, pill(n.state)),
    h(
      "p",
      {},
      `queue ${n.queue}, priority ${n.priority}, attempts ${n.attempts}, stalls ${n.stalls}`,
      n.token !== undefined ? `, fencing token ${n.token}` : "",
      n.dueAt !== undefined ? `, retry due ${time(n.dueAt)}` : "",
    ),
    n.leaseExpiresAt !== undefined
      ? h(
          "p",
          { id: "lease" },
          `worker ${n.worker ?? "?"}, lease expires ${time(n.leaseExpiresAt)}`,
          n.leaseExpiresAt < Date.now()
            ? h("span", { class: "warn" }, " (expired: re-delivered at the next maintenance tick)")
            : "",
        )
      : "",
    n.progress
      ? h(
          "p",
          { id: "progress" },
          `progress ${n.progress.current}${n.progress.total !== undefined ? `/${n.progress.total}` : ""} ${n.progress.message ?? ""}`,
        )
      : "",
    "input" in n ? [h("h2", {}, "Input"), json(n.input)] : "",
    "result" in n ? [h("h2", {}, "Result"), json(n.result)] : "",
    n.error
      ? [
          h("h2", {}, "Error"),
          h("p", { class: "warn" }, `${n.error.tag}: ${n.error.message}`),
          n.error.stack ? h("pre", {}, n.error.stack) : "",
        ]
      : "",
    h("h2", {}, "Attempts"),
    table(
      ["#", "outcome", "worker", "started (UTC)", "took"],
      n.history.map((a) =>
        h(
          "tr",
          { class: "attempt", title: time(a.startedAt) },
          h("td", {}, a.attempt),
          h(
            "td",
            {},
            pill(a.outcome),
            a.error ? h("div", { class: "warn" }, `${a.error.tag}: ${a.error.message}`) : "",
          ),
          h("td", {}, a.worker),
          h("td", {}, time(a.startedAt).slice(11)),
          h("td", {}, dur(a.startedAt, a.endedAt)),
        ),
      ),
    ),
    n.state === "running" && n.worker
      ? h("p", {}, `running on ${n.worker} since ${time(n.startedAt)}`)
      : "",
  );
}

async function runPage(runId) {
  const data = await api(`/runs/${encodeURIComponent(runId)}`);
  const status = h("span", { id: "run-status" }, pill(data.run.status));
  const counts = h("span", {}, `${data.run.ended}/${data.run.total} nodes ended`);
  const dag = h("div", { id: "dag" });
  const panel = h(
    "div",
    { id: "panel" },
    h("p", { class: "muted" }, "Click a node to see its input, result, error and attempts."),
  );
  const tl = h("div", { id: "timeline" });
  let selected;
  const select = (id) => {
    for (const g of drawn.values()) g.classList.remove("selected");
    drawn.get(id)?.classList.add("selected");
    selected = id;
    void nodePanel(panel, runId, id).catch((e) =>
      panel.replaceChildren(h("p", { class: "warn" }, e.message)),
    );
  };
  main.replaceChildren(
    h(
      "h1",
      {},
      `Run ${runId} `,
      status,
      " ",
      cancelButton(runId, (r) => status.replaceChildren(pill(r.status))),
      " ",
      data.run.status === "failed" || data.run.status === "cancelled"
        ? redriveButton(runId, () => void runPage(runId))
        : null,
    ),
    h(
      "p",
      {},
      counts,
      ` · created ${time(data.run.createdAt)}`,
      data.run.error
        ? h("span", { class: "warn" }, ` · ${data.run.error.tag}: ${data.run.error.message}`)
        : "",
    ),
    h("div", { class: "layout" }, dag, panel),
    h("h2", {}, "Timeline of attempts"),
    tl,
  );
  const drawn = drawDag(dag, data.nodes, select);
  tl.replaceChildren(timeline(data.nodes));
  // live: the run's events after the snapshot's cursor; the timeline and counts follow them
  // too (no re-read of the run), redrawn at most once a second
  const byId = new Map(data.nodes.map((n) => [n.id, n]));
  const TERMINAL = new Set(["succeeded", "failed", "skipped", "cancelled", "expired"]);
  let ended = data.run.ended;
  let redraw;
  const endAttempt = (n, at, outcome) => {
    const open = n.history.findLast((a) => a.outcome === "running");
    if (open) Object.assign(open, { endedAt: at, outcome });
  };
  live = new EventSource(
    `/api/events?runId=${encodeURIComponent(runId)}&after=${encodeURIComponent(data.cursor)}`,
  );
  live.addEventListener("events", (m) => {
    for (const e of JSON.parse(m.data)) {
      const n = e.nodeId === undefined ? undefined : byId.get(e.nodeId);
      const g = e.nodeId === undefined ? undefined : drawn.get(e.nodeId);
      if (e.kind === "run" || e.kind === "run-ended") status.replaceChildren(pill(e.status));
      if (!n || !g) continue;
      if (e.kind === "progress") {
        setProgress(g, e.progress);
        continue;
      }
      // a lease expiry is `lease-expired` (older stores: `expired` without a task); `expired`
      // with a task is the node's own end (its expiry time passed before it ran)
      const leaseExpiry = e.kind === "lease-expired" || (e.kind === "expired" && !e.task);
      const state = e.kind === "started" ? "running" : leaseExpiry ? "queued" : e.kind;
      if (TERMINAL.has(state) && !TERMINAL.has(n.state)) ended++;
      n.state = state;
      setState(g, state);
      if (e.kind === "started")
        n.history.push({
          attempt: e.attempt,
          worker: "",
          startedAt: e.at,
          endedAt: e.at,
          outcome: "running",
        });
      else if (e.kind === "retrying") endAttempt(n, e.at, "failed");
      else if (leaseExpiry) endAttempt(n, e.at, "stalled");
      else if (TERMINAL.has(e.kind)) endAttempt(n, e.at, e.kind);
      if (e.nodeId === selected) select(selected);
    }
    counts.textContent = `${ended}/${data.run.total} nodes ended`;
    if (redraw === undefined)
      redraw = setTimeout(() => {
        redraw = undefined;
        tl.replaceChildren(timeline(data.nodes));
      }, 1000);
  });
}

async function workersPage() {
  const ws = await api("/workers");
  main.replaceChildren(
    h("h1", {}, "Workers"),
    table(
      ["worker", "alive", "host", "pid", "queues", "tasks", "concurrency", "started", "last seen"],
      ws.map((w) =>
        h(
          "tr",
          {},
          h("td", {}, w.id),
          h("td", {}, w.alive ? "yes" : h("span", { class: "warn" }, "no")),
          h("td", {}, w.host),
          h("td", {}, w.pid),
          h("td", {}, w.queues.join(", ")),
          h("td", {}, w.tasks.length),
          h("td", {}, w.concurrency),
          h("td", {}, time(w.startedAt)),
          h("td", {}, time(w.lastSeenAt)),
        ),
      ),
    ),
  );
}

/** A POST to a queue's action (pause, resume), then the page drawn again. */
const queueAction = (queue, action, label) =>
  h(
    "button",
    {
      "data-action": action,
      onclick: async (ev) => {
        if (action === "pause" && !confirm(`Pause queue ${queue} for every worker?`)) return;
        ev.target.disabled = true;
        try {
          await api(`/queues/${encodeURIComponent(queue)}/${action}`, {
            method: "POST",
            headers: { "X-Weft-Action": "1" },
          });
          await queuesPage();
        } catch (e) {
          ev.target.disabled = false;
          alert(e.message);
        }
      },
    },
    label,
  );

async function queuesPage() {
  const qs = await api("/queues");
  main.replaceChildren(
    h("h1", {}, "Queues"),
    table(
      [
        "queue",
        "ready",
        "delayed",
        "leased",
        "parked",
        "throughput (last 60 s, live workers)",
        "consumers",
        "tasks no live worker handles",
        config.readOnly ? "" : "actions",
      ],
      qs.map((q) =>
        h(
          "tr",
          { "data-queue": q.queue, "data-paused": q.paused },
          h("td", {}, q.queue, q.paused ? [" ", pill("paused")] : ""),
          h("td", {}, q.ready),
          h("td", {}, q.delayed),
          h("td", {}, q.leased),
          h("td", {}, q.parked),
          h(
            "td",
            {
              "data-throughput": q.throughput.finished,
              title: `${q.throughput.succeeded} succeeded, ${q.throughput.failed} failed in the last 60 s, summed over live workers as of their last heartbeat`,
            },
            `${q.throughput.finished}/min`,
            q.throughput.failed > 0
              ? h("span", { class: "warn" }, ` (${q.throughput.failed} failed)`)
              : "",
          ),
          h(
            "td",
            {},
            q.consumers.length ? q.consumers.join(", ") : h("span", { class: "warn" }, "none"),
          ),
          h("td", { class: "warn" }, q.unhandledTasks.join(", ")),
          config.readOnly
            ? h("td", {})
            : h(
                "td",
                {},
                q.paused
                  ? queueAction(q.queue, "resume", "Resume")
                  : queueAction(q.queue, "pause", "Pause"),
              ),
        ),
      ),
    ),
  );
}

async function locksPage() {
  const ls = await api("/locks");
  const now = Date.now();
  main.replaceChildren(
    h("h1", {}, "Locks"),
    table(
      ["lock", "holder", "fencing token", "expires"],
      ls.map((l) =>
        h(
          "tr",
          {},
          h("td", {}, l.name),
          h("td", {}, l.owner),
          h("td", {}, l.token),
          h(
            "td",
            {},
            time(l.expiresAt),
            l.expiresAt < now ? h("span", { class: "warn" }, " (expired)") : "",
          ),
        ),
      ),
    ),
  );
}

/** A POST to a schedule's action (pause, resume, trigger), then the page drawn again. */
const scheduleAction = (id, action, label, cls) =>
  h(
    "button",
    {
      class: cls,
      onclick: async (ev) => {
        ev.target.disabled = true;
        try {
          await api(`/schedules/${encodeURIComponent(id)}/${action}`, {
            method: "POST",
            headers: { "X-Weft-Action": "1" },
          });
          await schedulesPage();
        } catch (e) {
          ev.target.disabled = false;
          alert(e.message);
        }
      },
    },
    label,
  );

async function schedulesPage() {
  const s = await api("/schedules");
  if (!s.supported) {
    main.replaceChildren(h("h1", {}, "Schedules"), h("p", {}, "This store keeps no schedules."));
    return;
  }
  const when = (v) =>
    v.cron !== undefined ? `cron "${v.cron}" ${v.timezone}` : `every ${v.everyMs} ms`;
  main.replaceChildren(
    h("h1", {}, "Schedules"),
    s.schedules.length === 0
      ? h("p", {}, "No schedules: add one with weft schedules add or upsertSchedule.")
      : table(
          [
            "schedule",
            "when",
            "submits",
            "overlap",
            "next fire",
            "last run",
            "status",
            config.readOnly ? "" : "actions",
          ],
          s.schedules.map((v) =>
            h(
              "tr",
              { "data-schedule": v.id },
              h("td", {}, v.id),
              h("td", {}, when(v)),
              h("td", {}, v.submits),
              h("td", {}, v.overlap),
              h("td", {}, v.paused ? pill("paused") : time(v.nextFireAt)),
              h(
                "td",
                {},
                v.lastRun
                  ? h(
                      "a",
                      { href: `#/run/${encodeURIComponent(v.lastRun.runId)}` },
                      `${v.lastRun.runId} (tick ${time(v.lastRun.tick)})`,
                    )
                  : "",
              ),
              h("td", {}, v.lastRun ? pill(v.lastRun.status) : ""),
              config.readOnly
                ? h("td", {})
                : h(
                    "td",
                    {},
                    v.paused
                      ? scheduleAction(v.id, "resume", "Resume")
                      : scheduleAction(v.id, "pause", "Pause"),
                    " ",
                    scheduleAction(v.id, "trigger", "Trigger now"),
                  ),
            ),
          ),
        ),
  );
}

async function route() {
  live?.close();
  live = undefined;
  const [path, query = ""] = location.hash.slice(1).split("?");
  const parts = (path || "/runs").split("/").filter(Boolean);
  try {
    if (parts[0] === "run" && parts[1]) await runPage(decodeURIComponent(parts[1]));
    else if (parts[0] === "workers") await workersPage();
    else if (parts[0] === "queues") await queuesPage();
    else if (parts[0] === "locks") await locksPage();
    else if (parts[0] === "schedules") await schedulesPage();
    else await runsPage(Object.fromEntries(new URLSearchParams(query)));
  } catch (e) {
    main.replaceChildren(h("p", { class: "warn" }, e.message));
  }
}

config = await api("/config");
document.getElementById("store").textContent =
  `${config.store}${config.readOnly ? " · read-only" : ""}`;
window.addEventListener("hashchange", route);
await route();
