// The status page: polls /api/status (same origin, the cookie carries the token) and redraws four tables.
// Every value is set as text, never as HTML.
"use strict";

const POLL_MS = 1000;

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (className) td.className = className;
  return td;
}

function fill(id, rows, columns, empty) {
  const body = document.querySelector(`#${id} tbody`);
  const next = document.createDocumentFragment();
  for (const row of rows) {
    const tr = document.createElement("tr");
    for (const column of columns(row, tr)) tr.appendChild(column);
    next.appendChild(tr);
  }
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    const td = cell(empty, "none");
    td.colSpan = document.querySelectorAll(`#${id} thead th`).length;
    tr.appendChild(td);
    next.appendChild(tr);
  }
  body.replaceChildren(next);
}

function ago(seconds) {
  if (seconds < 90) return `${seconds}s`;
  if (seconds < 5400) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

// Tools the profile does not expose: mutating ones it does not allow, quarantined ones.
function hidden(p) {
  const parts = [];
  if (p.mutating_hidden) parts.push(`${p.mutating_hidden} mutating`);
  if (p.quarantined) parts.push(`${p.quarantined} quarantined`);
  return parts.join(", ");
}

// A latency in ms with the precision that tells something (as mcp-broker top prints it): 0.35, 4.2, 37, 1,204.
function ms(value) {
  if (value === null || value === undefined) return "";
  if (value < 1) return value.toFixed(2);
  if (value < 10) return value.toFixed(1);
  return Math.round(value).toLocaleString("en-US");
}

function render(status) {
  const d = status.daemon;
  document.getElementById("daemon").textContent =
    `version ${d.version} · daemon pid ${d.pid} · up ${ago(d.uptime_seconds)} · config ${d.config}`;

  fill("upstreams", status.upstreams, (u, tr) => {
    tr.dataset.upstream = u.name;
    tr.dataset.state = u.state;
    const latency = u.latency_ms || {};
    return [
      cell(u.name), cell(u.state, `state state-${u.state}`), cell((u.pids || []).join(", ")),
      cell(u.transport === "stdio" ? u.mode : `${u.mode} (${u.transport})`), cell(u.protocol), cell(u.sessions), cell(u.in_flight),
      cell(u.calls), cell(u.errors), cell(ms(latency.p50)), cell(ms(latency.p95)), cell(ms(latency.last)), cell(u.restarts),
      cell(u.tools), cell(u.auth ? u.auth.state : ""),
      cell([u.last_error, u.limits && u.limits.last_restart ? `over a ceiling: ${u.limits.last_restart}` : null].filter(Boolean).join("; "), "wrap"),
    ];
  }, "no upstreams configured");

  const warnings = status.upstreams.flatMap(u => (u.catalog_warnings || []).map(w => ({ upstream: u.name, warning: w })));
  fill("warnings", warnings, (w, tr) => {
    tr.dataset.upstream = w.upstream;
    return [cell(w.upstream), cell(w.warning, "wrap")];
  }, "none: every upstream's tools are within max_tools and max_tool_bytes");

  fill("sessions", status.sessions, (s, tr) => {
    tr.dataset.session = s.id;
    return [cell(s.client_info || s.client), cell(s.profile), cell(ago(s.uptime_seconds))];
  }, "no client connected");

  fill("calls", status.recent_calls, (c, tr) => {
    tr.dataset.upstream = c.upstream;
    tr.dataset.outcome = c.outcome;
    return [
      cell(new Date(c.at).toLocaleTimeString()), cell(c.client), cell(c.profile), cell(c.upstream), cell(c.tool), cell(ms(c.duration_ms)),
      cell(c.refused ? `${c.outcome} (refused)` : c.outcome, c.outcome === "ok" ? "outcome-ok" : "outcome-error"),
    ];
  }, "no calls yet");

  fill("context", status.context || [], (p, tr) => {
    tr.dataset.profile = p.profile;
    return [
      cell(p.profile), cell(p.compact ? "compact" : "raw"), cell(`${p.catalogued} of ${p.upstreams}`), cell(p.raw_tools),
      cell(p.raw_tokens), cell(hidden(p)), cell(p.over_budget ? "over budget" : p.listed_tools),
      cell(p.over_budget ? "" : p.listed_tokens), cell(`${p.saved_tokens} tokens (${p.saved_pct}%)`),
    ];
  }, "no profiles");
}

async function poll() {
  const live = document.getElementById("live");
  try {
    const response = await fetch("api/status", { cache: "no-store", credentials: "same-origin" });
    if (!response.ok) throw new Error(`${response.status}: ${(await response.text()).trim()}`);
    render(await response.json());
    live.textContent = `updated ${new Date().toLocaleTimeString()}`;
    live.classList.remove("stale");
  } catch (error) {
    live.textContent = `not updated: ${error.message}`;
    live.classList.add("stale");
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
