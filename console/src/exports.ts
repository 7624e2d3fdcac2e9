// Export settings (admins and owners): the destinations' health, the continuous export (an
// object store, with the grant to paste or the ownership token), stored credentials, webhook
// endpoints, the OTEL export and the notification e-mails. One module per area; this one
// lays them out.

import { Whoami } from "./api.js";
import { renderCredentials } from "./credentials.js";
import { renderDestination } from "./destination.js";
import { badge, h, notice, replace, time } from "./dom.js";
import { renderHealth } from "./health.js";
import { renderNotifications } from "./notifications.js";
import { loadOtel, openOtelDrawer } from "./otel.js";
import { renderWebhooks } from "./webhooks.js";

export function renderExports(main: HTMLElement, who: Whoami): void {
  document.title = "Export settings · AuditRelay";
  const section = (labelledBy: string) => h("section", { class: "card", "aria-labelledby": labelledBy });
  const health = section("health-title");
  const s3 = section("s3-title");
  const credentials = section("credentials-title");
  const hooks = section("webhooks-title");
  const otel = section("otel-title");
  const notifications = section("notifications-title");
  replace(main, h("div", { class: "page-header" }, h("h1", { text: "Export settings" })), health, s3, credentials, hooks, otel, notifications);
  const org = who.org_id;
  const refreshHealth = () => renderHealth(health, org);
  refreshHealth();
  void renderDestination(s3, org, refreshHealth);
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
