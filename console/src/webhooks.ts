// Webhook endpoints: create (the secret is shown once), list, send a test, the attempt log,
// rotate the secret, enable/disable, replay a time range, delete.

import { api, exportPath, withQuery } from "./api.js";
import { badge, copyButton, field, h, isoToLocal, localToIso, notice, openDrawer, replace, time, toast } from "./dom.js";

interface Endpoint {
  id: string;
  url: string;
  description: string | null;
  enabled: boolean;
  status: "active" | "paused" | "disabled";
  statusReason: string | null;
  actions: string[];
  secret: string;
  previousSecretExpiresAt: string | null;
  consecutiveFailures: number;
}

interface TestResult {
  success: boolean;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  eventId: string;
}

interface Attempt {
  id: string;
  eventId: string;
  attempt: number;
  trigger: string;
  at: string;
  status: string;
  statusCode: number | null;
  latencyMs: number | null;
  error: string | null;
  nextAttemptAt: string | null;
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** The box that shows a new secret, the only time it is visible. */
function secretBox(id: string, secret: string): HTMLElement {
  return notice(
    "info",
    h("strong", { text: `Signing secret of ${id}` }),
    h("p", { text: "Copy it now into your receiver: it is shown only this once." }),
    h("div", { class: "kv" }, h("code", { class: "secret", text: secret }), copyButton("Copy secret", () => secret)),
  );
}

export function renderWebhooks(section: HTMLElement, orgId: string, flash?: HTMLElement): void {
  const base = exportPath(orgId, "/webhooks");
  const refresh = (msg?: HTMLElement) => renderWebhooks(section, orgId, msg);

  const url = field("Endpoint URL", h("input", { type: "url", name: "url", required: true, autocomplete: "off", placeholder: "https://siem.example.com/auditrelay" }));
  const description = field("Description", h("input", { name: "description", autocomplete: "off", placeholder: "Splunk HEC" }));
  const actions = field("Actions", h("input", { name: "actions", value: "*", autocomplete: "off" }), "Comma-separated patterns; * matches any run of characters (document.*, *.deleted).");
  const createMsg = h("div");
  const createBtn = h("button", { type: "submit", class: "primary", text: "Add endpoint" });
  const form = h(
    "form",
    { class: "grid-form", novalidate: true, "aria-label": "New webhook endpoint" },
    url.wrap,
    description.wrap,
    actions.wrap,
    h("div", { class: "buttons span" }, createBtn),
    h("div", { class: "span" }, createMsg),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    url.setError(null);
    actions.setError(null);
    const target = url.control.value.trim();
    if (!target) {
      url.setError("Enter the receiver's URL.");
      url.control.focus();
      return;
    }
    const patterns = actions.control.value.split(",").map((a) => a.trim()).filter(Boolean);
    createBtn.disabled = true;
    try {
      const ep = await api<Endpoint>("POST", base, {
        url: target,
        description: description.control.value.trim() || undefined,
        actions: patterns.length ? patterns : undefined,
      });
      toast("Webhook endpoint created");
      refresh(secretBox(ep.id, ep.secret));
    } catch (err) {
      createBtn.disabled = false;
      const f = (err as { field?: string }).field ?? "";
      if (f === "url") url.setError(errorText(err));
      if (f.startsWith("actions")) actions.setError(errorText(err));
      replace(createMsg, notice("error", errorText(err)));
    }
  });

  const list = h("div", {}, h("p", { role: "status", text: "Loading…" }));
  replace(
    section,
    h("h2", { id: "webhooks-title", text: "Webhooks (SIEM)" }),
    h("p", { class: "muted", text: "Every new event is POSTed, signed (Standard Webhooks), to each matching endpoint; failures are retried after 30 s, 5 min and 30 min." }),
    flash ?? null,
    list,
    h("h3", { text: "Add an endpoint" }),
    form,
  );
  if (flash) (flash.querySelector("button") as HTMLElement | null)?.focus();

  api<Endpoint[]>("GET", base)
    .then((eps) => {
      if (!eps.length) {
        replace(list, h("p", { class: "muted", text: "No endpoints yet." }));
        return;
      }
      replace(list, h("ul", { class: "endpoints" }, eps.map((ep) => endpointItem(ep))));
    })
    .catch((err) => replace(list, notice("error", errorText(err))));

  const endpointItem = (ep: Endpoint): HTMLElement => {
    const path = `${base}/${encodeURIComponent(ep.id)}`;
    const out = h("div", { class: "endpoint-result" });
    const act = (label: string, run: () => Promise<void>, cls = "secondary small") => {
      const b = h("button", { type: "button", class: cls, text: label, "aria-label": `${label}: ${ep.url}` });
      b.addEventListener("click", async () => {
        b.disabled = true;
        try {
          await run();
        } catch (err) {
          replace(out, notice("error", errorText(err)));
        } finally {
          b.disabled = false;
        }
      });
      return b;
    };
    const statusKind = ep.status === "active" ? "ok" : ep.status === "paused" ? "warn" : "neutral";
    return h(
      "li",
      { class: "endpoint", "data-endpoint-id": ep.id },
      h(
        "div",
        { class: "row-between" },
        h(
          "div",
          {},
          h("div", { class: "endpoint-url", text: ep.url }),
          h(
            "div",
            { class: "muted" },
            badge(ep.status, statusKind),
            ep.statusReason ? ` ${ep.statusReason}` : "",
            ` · ${ep.description ?? "no description"} · actions ${ep.actions.join(", ")} · secret ${ep.secret}`,
            ep.consecutiveFailures ? ` · ${ep.consecutiveFailures} failed in a row` : "",
          ),
        ),
      ),
      h(
        "div",
        { class: "buttons" },
        act("Send test", async () => {
          replace(out, h("p", { role: "status", text: "Sending a webhook.test event…" }));
          const r = await api<TestResult>("POST", `${path}/test`);
          replace(
            out,
            r.success
              ? notice("ok", `Test delivered: HTTP ${r.statusCode} in ${r.latencyMs} ms (event ${r.eventId}).`)
              : notice("error", `Test failed${r.statusCode ? `: HTTP ${r.statusCode}` : ""}${r.error ? ` — ${r.error}` : ""}`),
          );
        }),
        act("Attempts", async () => openAttempts(path, ep.url)),
        act("Replay", async () => openReplay(path, ep.url)),
        act("Rotate secret", async () => {
          if (!confirm("Rotate the signing secret? The old one keeps signing beside the new one for 24 hours.")) return;
          const r = await api<Endpoint>("POST", `${path}/rotate-secret`);
          refresh(secretBox(r.id, r.secret));
        }),
        act(ep.enabled ? "Disable" : ep.status === "paused" ? "Resume" : "Enable", async () => {
          await api("PATCH", path, { enabled: !ep.enabled || ep.status === "paused" });
          toast(ep.enabled && ep.status !== "paused" ? "Endpoint disabled" : "Endpoint enabled");
          refresh();
        }),
        act(
          "Delete",
          async () => {
            if (!confirm(`Delete the endpoint ${ep.url}?`)) return;
            await api("DELETE", path);
            toast("Endpoint deleted");
            refresh();
          },
          "danger small",
        ),
      ),
      out,
    );
  };
}

/** The attempt log of one endpoint, newest first, with "load more". */
function openAttempts(path: string, url: string): void {
  const drawer = openDrawer(`Delivery attempts`, undefined, true);
  const tbody = h("tbody");
  const more = h("button", { type: "button", class: "secondary", text: "Load more", hidden: true });
  const status = h("p", { role: "status" });
  replace(
    drawer.body,
    h("p", { class: "muted", text: url }),
    status,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, ...["Time", "Event", "Attempt", "Trigger", "Status", "HTTP", "Latency", "Error / next"].map((c) => h("th", { scope: "col", text: c })))),
        tbody,
      ),
    ),
    more,
  );
  let cursor: string | null = null;
  let count = 0;
  const load = async () => {
    more.disabled = true;
    try {
      const page = await api<{ attempts: Attempt[]; cursor: string | null; hasMore: boolean }>("GET", withQuery(`${path}/attempts`, { limit: 25, cursor }));
      for (const a of page.attempts) {
        tbody.append(
          h(
            "tr",
            {},
            h("td", { class: "nowrap" }, time(a.at)),
            h("td", { text: a.eventId }),
            h("td", { text: String(a.attempt) }),
            h("td", { text: a.trigger }),
            h("td", {}, badge(a.status, a.status === "delivered" ? "ok" : a.status === "skipped" ? "neutral" : "error")),
            h("td", { text: a.statusCode === null ? "—" : String(a.statusCode) }),
            h("td", { text: a.latencyMs === null ? "—" : `${a.latencyMs} ms` }),
            h("td", {}, a.error ?? "", a.nextAttemptAt ? h("span", { class: "muted" }, " next: ", time(a.nextAttemptAt)) : ""),
          ),
        );
      }
      count += page.attempts.length;
      cursor = page.cursor;
      more.hidden = !page.hasMore;
      status.textContent = count ? `${count} attempts (kept 30 days).` : "No attempts yet.";
    } catch (err) {
      replace(status, notice("error", errorText(err)));
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener("click", load);
  void load();
}

/** Re-sends the events accepted in a time range (in chunks of 5,000, continued with the cursor). */
function openReplay(path: string, url: string): void {
  const drawer = openDrawer("Replay events");
  const now = new Date();
  const from = field("From (accepted at)", h("input", { type: "datetime-local", value: isoToLocal(new Date(now.getTime() - 86_400_000).toISOString()) }));
  const to = field("To", h("input", { type: "datetime-local", value: isoToLocal(new Date(now.getTime() + 60_000).toISOString()) }));
  const out = h("div");
  const go = h("button", { type: "submit", class: "primary", text: "Replay" });
  const form = h(
    "form",
    { class: "stack", novalidate: true },
    h("p", { class: "muted", text: `Events accepted in the range that match the endpoint's actions are sent again to ${url}, with their original webhook-id.` }),
    from.wrap,
    to.wrap,
    h("div", { class: "buttons" }, go),
    out,
  );
  replace(drawer.body, form);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = localToIso(from.control.value);
    const t = localToIso(to.control.value);
    from.setError(null);
    if (!f || !t || f >= t) {
      from.setError("Give a From before To.");
      from.control.focus();
      return;
    }
    go.disabled = true;
    let cursor: string | null = null;
    let total = 0;
    try {
      do {
        const r: { enqueued: number; hasMore: boolean; cursor: string | null } = await api("POST", `${path}/replay`, { from: f, to: t, cursor: cursor ?? undefined });
        total += r.enqueued;
        cursor = r.hasMore ? r.cursor : null;
        replace(out, h("p", { role: "status", text: `${total} events queued${cursor ? "…" : "."}` }));
      } while (cursor);
      replace(out, notice("ok", `${total} events queued for delivery.`));
    } catch (err) {
      replace(out, notice("error", errorText(err)));
    } finally {
      go.disabled = false;
    }
  });
}
