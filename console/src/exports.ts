// Export settings (admins and owners): the destinations' health, the continuous export (an
// object store, with the grant to paste or the ownership token), export jobs, stored
// credentials, webhook endpoints, the OTEL export and the notification e-mails. One module per
// area; this one lays them out, with the small export-job card of its own.

import { api, ApiError, Whoami, withQuery } from "./api.js";
import { renderCredentials } from "./credentials.js";
import { renderDestination, shapeFields } from "./destination.js";
import { badge, field, Field, h, isoToLocal, localToIso, notice, replace, time, toast } from "./dom.js";
import { renderHealth } from "./health.js";
import { renderNotifications } from "./notifications.js";
import { loadOtel, openOtelDrawer } from "./otel.js";
import { renderWebhooks } from "./webhooks.js";

export function renderExports(main: HTMLElement, who: Whoami): void {
  document.title = "Export settings · AuditRelay";
  const section = (labelledBy: string) => h("section", { class: "card", "aria-labelledby": labelledBy });
  const health = section("health-title");
  const s3 = section("s3-title");
  const jobs = section("jobs-title");
  const credentials = section("credentials-title");
  const hooks = section("webhooks-title");
  const otel = section("otel-title");
  const notifications = section("notifications-title");
  replace(main, h("div", { class: "page-header" }, h("h1", { text: "Export settings" })), health, s3, jobs, credentials, hooks, otel, notifications);
  const org = who.org_id;
  const refreshHealth = () => renderHealth(health, org);
  refreshHealth();
  void renderDestination(s3, org, refreshHealth);
  renderJobs(jobs);
  // The destination form lists the credentials it can use: it follows their changes.
  renderCredentials(credentials, org, () => void renderDestination(s3, org, refreshHealth));
  renderWebhooks(hooks, org);
  renderOtelSummary(otel, org);
  renderNotifications(notifications, org);
}

function renderOtelSummary(section: HTMLElement, orgId: string): void {
  const refresh = () => renderOtelSummary(section, orgId);
  const button = h("button", { type: "button", class: "secondary", text: "Configure OTEL Export", onclick: () => openOtelDrawer(orgId, refresh) });
  replace(section, h("h2", { id: "otel-title", text: "OpenTelemetry (OTLP logs)" }), h("p", { role: "status", text: "Loading…" }));
  loadOtel(orgId)
    .then((cfg) => {
      replace(
        section,
        h("h2", { id: "otel-title", text: "OpenTelemetry (OTLP logs)" }),
        cfg
          ? h(
              "p",
              {},
              badge(cfg.status ?? (cfg.enabled ? "active" : "disabled"), cfg.enabled && cfg.status !== "paused" ? "ok" : "warn"),
              ` ${cfg.endpointUrl} · batches of up to ${cfg.maxBatchSize} · last export: `,
              time(cfg.lastExportedAt),
            )
          : h("p", { class: "muted", text: "Not configured." }),
        cfg?.lastError ? notice("error", "Most recent error: ", cfg.lastError) : null,
        button,
      );
    })
    .catch((err) => replace(section, h("h2", { id: "otel-title", text: "OpenTelemetry (OTLP logs)" }), notice("error", err instanceof Error ? err.message : String(err)), button));
}

interface ExportJob {
  export_id: string;
  status: "queued" | "running" | "completed" | "failed";
  record_count: number;
  schema: string;
  format: string;
  from: string;
  to: string;
  created_at: string;
  error?: string;
}

/**
 * Export jobs (POST /v1/audit/export): a range of the trail written once into the continuous
 * export's destination, in a schema and format of the same table; and the recent jobs.
 */
function renderJobs(section: HTMLElement): void {
  const title = () => h("h2", { id: "jobs-title", text: "Export jobs" });
  const now = Date.now();
  const from = field("From", h("input", { type: "datetime-local", name: "from", value: isoToLocal(new Date(now - 86_400_000).toISOString()) }));
  const to = field("To", h("input", { type: "datetime-local", name: "to", value: isoToLocal(new Date(now).toISOString()) }));
  const { schema, format } = shapeFields("columnar", "csv");
  const fields: Record<string, Field> = { from, to, schema, format };
  const result = h("div", { class: "test-result" });
  const list = h("div", {});
  const submit = h("button", { type: "submit", class: "primary", text: "Start export" });
  const form = h(
    "form",
    { class: "grid-form", novalidate: true, "aria-label": "Export job" },
    from.wrap,
    to.wrap,
    schema.wrap,
    format.wrap,
    h("p", { class: "hint span", text: "Written into the continuous export's destination, under {prefix}/exports/{export_id}/." }),
    h("div", { class: "buttons span" }, submit),
    h("div", { class: "span" }, result),
  );
  const refresh = () => {
    api<{ exports: ExportJob[] }>("GET", withQuery("v1/audit/exports", { limit: 5 }))
      .then(({ exports }) =>
        replace(
          list,
          exports.length
            ? h(
                "ul",
                {},
                exports.map((j) =>
                  h(
                    "li",
                    {},
                    badge(j.status, j.status === "failed" ? "error" : j.status === "completed" ? "ok" : "warn"),
                    ` ${j.schema} ${j.format} · ${j.record_count} events · `,
                    time(j.from),
                    " – ",
                    time(j.to),
                    j.error ? ` · ${j.error}` : "",
                  ),
                ),
              )
            : h("p", { class: "muted", text: "No export jobs yet." }),
        ),
      )
      .catch((err) => replace(list, notice("error", err instanceof Error ? err.message : String(err))));
  };
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    Object.values(fields).forEach((f) => f.setError(null));
    const body = {
      from: localToIso(from.control.value),
      to: localToIso(to.control.value),
      schema: schema.control.value,
      format: format.control.value,
    };
    submit.disabled = true;
    api<{ export_id: string }>("POST", "v1/audit/export", body)
      .then((r) => {
        replace(result, notice("ok", `Export ${r.export_id} queued.`));
        toast("Export job queued");
        refresh();
      })
      .catch((err) => {
        const msg = err instanceof Error ? err.message : String(err);
        const f = err instanceof ApiError ? err.field : undefined;
        if (f && fields[f]) fields[f].setError(msg);
        replace(result, notice("error", msg));
      })
      .finally(() => (submit.disabled = false));
  });
  replace(section, title(), form, h("h3", { text: "Recent jobs" }), list);
  refresh();
}
