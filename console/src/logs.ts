// The Audit Logs page: newest entries first, filters for event type, actor and
// time, a search box over the payload, "load more" with the API's cursor, and a details
// drawer with the full event. The filters and the open entry live in the URL.

import { api, ApiError, isAdmin, withQuery, Whoami } from "./api.js";
import { badge, copyButton, field, h, isoToLocal, localToIso, notice, openDrawer, pretty, replace, setParams, time } from "./dom.js";
import { openOtelDrawer } from "./otel.js";

/** A canonical event as the API returns it (the documented example event's shape plus `received_at`). */
export interface AuditEvent {
  event_id: string;
  timestamp: string;
  action: string;
  actor: { user_id: string; email?: string; ip_address?: string; type?: string; user_agent?: string };
  resource?: { type: string; id: string; name?: string };
  tenant_id?: string;
  project?: string;
  success?: boolean;
  request_id?: string;
  duration_ms?: number;
  metadata?: Record<string, unknown>;
  received_at?: string;
}

interface LogsPage {
  logs: AuditEvent[];
  cursor: string | null;
  has_more: boolean;
}

/** The filters, as in the URL. Times are ISO UTC. */
interface Filters {
  action: string;
  actor: string;
  from: string;
  to: string;
  q: string;
}

const PAGE_SIZE = 50;

function readFilters(): Filters {
  const p = new URLSearchParams(location.search);
  return {
    action: p.get("action") ?? "",
    actor: p.get("actor") ?? "",
    from: p.get("from") ?? "",
    to: p.get("to") ?? "",
    q: p.get("q") ?? "",
  };
}

function writeFilters(f: Filters, eventId: string | null, replaceEntry = false): void {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v) p.set(k, v);
  if (eventId) p.set("event", eventId);
  setParams(p, replaceEntry);
}

function actorLabel(e: AuditEvent): string {
  return e.actor.email || e.actor.user_id;
}

function resourceLabel(e: AuditEvent): string {
  if (!e.resource) return "—";
  return `${e.resource.type}: ${e.resource.name || e.resource.id}`;
}

function successBadge(s: boolean | undefined): HTMLElement | string {
  if (s === true) return badge("Success", "ok");
  if (s === false) return badge("Failed", "error");
  return "—";
}

export function renderLogs(main: HTMLElement, who: Whoami): void {
  document.title = "Audit Logs · AuditRelay";
  const filters = readFilters();

  const actionSelect = h("select", { name: "action" }, h("option", { value: "", text: "All event types" }));
  if (filters.action) actionSelect.append(h("option", { value: filters.action, text: filters.action }));
  actionSelect.value = filters.action;
  const actorInput = h("input", { name: "actor", type: "text", value: filters.actor, placeholder: "usr_01ABCDEFG", autocomplete: "off" });
  const fromInput = h("input", { name: "from", type: "datetime-local", value: isoToLocal(filters.from) });
  const toInput = h("input", { name: "to", type: "datetime-local", value: isoToLocal(filters.to) });
  const searchInput = h("input", { name: "q", type: "search", value: filters.q, placeholder: "e.g. jane@example.com, Contract_v2", autocomplete: "off" });

  const fAction = field("Event type", actionSelect);
  const fActor = field("Actor (user id)", actorInput);
  const fFrom = field("From", fromInput);
  const fTo = field("To", toInput);
  const fSearch = field("Search", searchInput);

  const searchHint = h("p", {
    class: "hint span",
    id: "search-hint",
    text: "Search matches text anywhere in the event (payload included), as typed, in lower case, in upper case or Capitalized; it reads every entry in the time range, so narrow From/To on a large trail.",
  });
  searchInput.setAttribute("aria-describedby", `${searchInput.getAttribute("aria-describedby")} search-hint`);
  const formError = h("div");
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter audit logs", novalidate: true },
    fAction.wrap,
    fActor.wrap,
    fFrom.wrap,
    fTo.wrap,
    h("div", { class: "field grow" }, fSearch.wrap),
    h(
      "div",
      { class: "filter-buttons" },
      h("button", { type: "submit", class: "primary", text: "Apply" }),
      h("button", {
        type: "button",
        class: "secondary",
        text: "Reset",
        onclick: () => {
          writeFilters({ action: "", actor: "", from: "", to: "", q: "" }, null);
          renderLogs(main, who);
        },
      }),
    ),
    searchHint,
  );

  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "logs" },
    h("caption", { class: "offscreen", text: "Audit log entries, newest first" }),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col", text: "Time" }),
        h("th", { scope: "col", text: "Event type" }),
        h("th", { scope: "col", text: "Actor" }),
        h("th", { scope: "col", text: "Resource" }),
        h("th", { scope: "col", text: "Result" }),
      ),
    ),
    tbody,
  );
  const more = h("button", { type: "button", class: "secondary", hidden: true, text: "Load more" });
  const listError = h("div");

  const header = h(
    "div",
    { class: "page-header" },
    h("h1", { text: "Audit Logs" }),
    isAdmin(who)
      ? h("button", {
          type: "button",
          class: "secondary",
          text: "Configure OTEL Export",
          onclick: () => openOtelDrawer(who.org_id),
        })
      : null,
  );
  replace(main, header, form, formError, status, listError, h("div", { class: "table-wrap" }, table), h("div", { class: "more" }, more));

  // Event types: the actions that occur in the org.
  api<{ actions: string[] }>("GET", "v1/audit/actions")
    .then(({ actions }) => {
      for (const a of actions) {
        if (a !== filters.action) actionSelect.append(h("option", { value: a, text: a }));
      }
      actionSelect.value = filters.action;
    })
    .catch(() => {
      /* the filter still works with the current value */
    });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const next: Filters = {
      action: actionSelect.value,
      actor: actorInput.value.trim(),
      from: localToIso(fromInput.value),
      to: localToIso(toInput.value),
      q: searchInput.value.trim(),
    };
    fFrom.setError(null);
    if (next.from && next.to && next.from >= next.to) {
      fFrom.setError("From must be before To.");
      fromInput.focus();
      return;
    }
    writeFilters(next, null);
    renderLogs(main, who);
  });
  actionSelect.addEventListener("change", () => form.requestSubmit());

  let cursor: string | null = null;
  let shown = 0;
  const load = async () => {
    more.disabled = true;
    status.textContent = shown ? "Loading more…" : "Loading…";
    replace(listError);
    try {
      const page = await api<LogsPage>(
        "GET",
        withQuery("v1/audit/logs", {
          limit: PAGE_SIZE,
          action: filters.action,
          identity_id: filters.actor,
          from: filters.from,
          to: filters.to,
          q: filters.q,
          cursor,
        }),
      );
      for (const ev of page.logs) tbody.append(row(ev));
      shown += page.logs.length;
      cursor = page.cursor;
      more.hidden = !page.has_more;
      more.disabled = false;
      const filtered = Object.values(filters).some(Boolean);
      if (shown === 0 && !page.has_more) {
        status.textContent = filtered ? "No entries match these filters." : "No audit log entries yet.";
      } else if (page.logs.length === 0 && page.has_more) {
        status.textContent = `${shown} entries. No match in the stretch searched so far; load more to search further back.`;
      } else {
        status.textContent = `${shown} ${shown === 1 ? "entry" : "entries"}${page.has_more ? " (more available)" : ""}.`;
      }
    } catch (err) {
      more.disabled = false;
      status.textContent = "";
      const msg = err instanceof ApiError ? err.message : String(err);
      if (err instanceof ApiError && err.field) {
        const target = { identity_id: fActor, q: fSearch, from: fFrom, to: fTo, action: fAction }[err.field];
        target?.setError(msg);
      }
      replace(listError, notice("error", msg));
    }
  };
  more.addEventListener("click", load);

  const row = (ev: AuditEvent): HTMLTableRowElement => {
    const open = h("button", {
      type: "button",
      class: "link",
      text: ev.action,
      "aria-label": `Details of ${ev.action} by ${actorLabel(ev)}`,
      onclick: (e: Event) => {
        e.stopPropagation();
        showEvent(ev.event_id, ev);
      },
    });
    const tr = h(
      "tr",
      { "data-event-id": ev.event_id },
      h("td", { class: "nowrap" }, time(ev.timestamp)),
      h("td", {}, open),
      h("td", { title: ev.actor.user_id }, actorLabel(ev), ev.actor.type && ev.actor.type !== "user" ? h("span", { class: "muted", text: ` (${ev.actor.type})` }) : null),
      h("td", { title: ev.resource ? ev.resource.id : "" }, resourceLabel(ev)),
      h("td", {}, successBadge(ev.success)),
    );
    tr.addEventListener("click", () => showEvent(ev.event_id, ev));
    return tr;
  };

  const showEvent = (id: string, known?: AuditEvent) => {
    writeFilters(readFilters(), id, true);
    openEventDrawer(id, known, () => {
      if (new URLSearchParams(location.search).get("event") === id) writeFilters(readFilters(), null, true);
    });
  };

  void load();
  const opened = new URLSearchParams(location.search).get("event");
  if (opened) openEventDrawer(opened, undefined, () => writeFilters(readFilters(), null, true));
}

/**
 * The OCSF view of an entry: a toggle that fetches `GET /v1/audit/logs/{id}?schema=ocsf` the
 * first time it is turned on, then shows the record (or an error line) below the full event.
 */
function ocsfSection(id: string): HTMLElement {
  const body = h("div", { id: "ocsf-record", hidden: true });
  const toggle = h("button", { type: "button", class: "secondary", text: "Show OCSF record", "aria-expanded": "false", "aria-controls": "ocsf-record" });
  let loaded = false;
  const load = async () => {
    replace(body, h("p", { role: "status", text: "Loading the OCSF record…" }));
    try {
      const record = await api<unknown>("GET", `v1/audit/logs/${encodeURIComponent(id)}?schema=ocsf`);
      const json = pretty(record);
      loaded = true;
      replace(
        body,
        h("div", { class: "row-between" }, h("h3", { text: "OCSF record" }), copyButton("Copy OCSF JSON", () => json, "Copy the OCSF record JSON")),
        h("pre", { class: "json", tabindex: "0", "aria-label": "OCSF record JSON" }, json),
      );
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      replace(body, notice("error", `The OCSF record could not be loaded: ${msg}`));
    }
  };
  toggle.addEventListener("click", () => {
    const on = body.hidden;
    body.hidden = !on;
    toggle.setAttribute("aria-expanded", String(on));
    toggle.textContent = on ? "Hide OCSF record" : "Show OCSF record";
    if (on && !loaded) void load();
  });
  return h("section", { class: "ocsf", "aria-label": "OCSF record" }, h("div", { class: "buttons" }, toggle), body);
}

/** The details drawer: the entry's attributes, its full JSON with copy buttons, and its OCSF record on demand. */
function openEventDrawer(id: string, known: AuditEvent | undefined, onClose: () => void): void {
  const drawer = openDrawer("Event details", onClose, true);
  // Built once: the drawer is filled again when the stored event arrives, the toggle's state stays.
  const ocsf = ocsfSection(id);
  let shown: string | null = null;
  const fill = (ev: AuditEvent) => {
    const json = pretty(ev);
    // The stored event usually is the row's: nothing to redraw, and the reader's focus stays.
    if (json === shown) return;
    shown = json;
    // Redrawn: focus goes back to the same control (by its label) instead of falling out of
    // the drawer with the element it was on.
    const active = document.activeElement;
    const focusKey = active instanceof HTMLElement && drawer.body.contains(active) ? (active.getAttribute("aria-label") ?? active.textContent) : null;
    const dl = h("dl", { class: "facts" });
    const fact = (k: string, v: Node | string | undefined | null) => {
      if (v === undefined || v === null || v === "") return;
      dl.append(h("dt", { text: k }), h("dd", {}, v));
    };
    fact("Event type", ev.action);
    fact("Date", time(ev.timestamp));
    fact("Actor", `${actorLabel(ev)}${ev.actor.email ? ` (${ev.actor.user_id})` : ""}`);
    fact("Actor type", ev.actor.type);
    fact("IP address", ev.actor.ip_address);
    fact("Resource", ev.resource ? `${ev.resource.type} ${ev.resource.id}${ev.resource.name ? ` — ${ev.resource.name}` : ""}` : undefined);
    fact("Project", ev.project);
    fact("Result", successBadge(ev.success));
    fact("Request id", ev.request_id);
    fact("Event id", ev.event_id);
    fact("Received", time(ev.received_at));
    replace(
      drawer.body,
      dl,
      h(
        "div",
        { class: "row-between" },
        h("h3", { text: "Full event" }),
        h(
          "div",
          { class: "buttons" },
          copyButton("Copy JSON", () => json, "Copy the event JSON"),
          copyButton("Copy link", () => location.href, "Copy a link to this event"),
        ),
      ),
      h("pre", { class: "json", tabindex: "0", "aria-label": "Event JSON" }, json),
      ocsf,
    );
    if (focusKey !== null) {
      const again = Array.from(drawer.body.querySelectorAll<HTMLElement>("button, pre, [tabindex]")).find(
        (el) => (el.getAttribute("aria-label") ?? el.textContent) === focusKey,
      );
      (again ?? (drawer.dialog.querySelector("h2") as HTMLElement | null))?.focus();
    }
  };
  if (known) fill(known);
  else replace(drawer.body, h("p", { role: "status", text: "Loading…" }));
  // Always read the stored event: the list row may be stale, a shared link has nothing yet.
  api<AuditEvent>("GET", `v1/audit/logs/${encodeURIComponent(id)}`)
    .then(fill)
    .catch((err) => {
      if (!known) replace(drawer.body, notice("error", err instanceof ApiError && err.status === 404 ? `No event ${id} in this organization.` : String(err.message ?? err)));
    });
}
