// Destination health (GET .../audit-export/health): per destination its state, last success,
// current failure streak and lag, and a 24-hour chart of deliveries and failures drawn here
// as inline SVG (nothing loaded from anywhere, no library).

import { api, exportPath } from "./api.js";
import { badge, duration, h, notice, replace, svg, time } from "./dom.js";

interface HourCount {
  hour: string;
  delivered: number | null;
  failed: number | null;
}

export interface DestinationHealth {
  kind: "webhook" | "otel" | "s3";
  id: string;
  name: string;
  status: string;
  lastSuccessAt: string | null;
  failureStreak: number;
  lagSeconds: number | null;
  unit: "attempts" | "runs" | "none";
  truncated: boolean;
  hourly: HourCount[];
}

const KIND: Record<DestinationHealth["kind"], string> = { webhook: "Webhook", otel: "OTLP", s3: "Continuous export" };
const STREAK_UNIT: Record<DestinationHealth["kind"], string> = { webhook: "events lost", otel: "events lost", s3: "failed runs" };

export function renderHealth(section: HTMLElement, orgId: string): void {
  const title = () => h("div", { class: "row-between" }, h("h2", { id: "health-title", text: "Destination health" }), h("button", { type: "button", class: "secondary small", text: "Refresh", onclick: () => renderHealth(section, orgId) }));
  replace(section, title(), h("p", { role: "status", text: "Loading…" }));
  api<{ destinations: DestinationHealth[] }>("GET", exportPath(orgId, "/health"))
    .then((r) => {
      replace(
        section,
        title(),
        r.destinations.length
          ? h("ul", { class: "health-list" }, r.destinations.map(destination))
          : h("p", { class: "muted", text: "No destination is configured yet." }),
      );
    })
    .catch((err) => replace(section, title(), notice("error", err instanceof Error ? err.message : String(err))));
}

function statusKind(status: string): string {
  if (status === "active") return "ok";
  if (status === "paused" || status === "pendingVerification") return "warn";
  return "neutral";
}

function destination(d: DestinationHealth): HTMLElement {
  const failing = d.failureStreak > 0;
  const line = h(
    "p",
    { class: "health-line" },
    "Last success: ",
    d.lastSuccessAt ? time(d.lastSuccessAt) : "none",
    " · Failure streak: ",
    h("strong", { class: failing ? "bad" : undefined, text: failing ? `${d.failureStreak} ${STREAK_UNIT[d.kind]}` : "none" }),
    " · Lag: ",
    d.lagSeconds === null ? "—" : duration(d.lagSeconds),
  );
  return h(
    "li",
    { class: "health-item", "data-kind": d.kind, "data-id": d.id },
    h("div", { class: "health-head" }, h("span", { class: "health-kind", text: KIND[d.kind] }), h("span", { class: "health-name", text: d.name }), badge(d.status, statusKind(d.status))),
    line,
    chart(d),
    d.truncated ? h("p", { class: "hint", text: "More attempts than the report reads: the oldest hours undercount." }) : null,
  );
}

const W = 480;
const H = 96;
const PAD_BOTTOM = 16;

/** A bar per hour: delivered (green) under failed (red), scaled to the busiest hour. */
function chart(d: DestinationHealth): Element {
  const unit = d.unit === "runs" ? "runs" : "attempts";
  const recorded = d.hourly.every((x) => x.delivered !== null && x.failed !== null);
  const delivered = d.hourly.reduce((n, x) => n + (x.delivered ?? 0), 0);
  const failed = d.hourly.reduce((n, x) => n + (x.failed ?? 0), 0);
  const label = recorded
    ? `Last 24 hours: ${delivered} ${unit} delivered, ${failed} failed`
    : "Last 24 hours: hourly counts are not recorded for this destination";
  const root = svg("svg", { class: "health-chart", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": label });
  root.append(svg("title", {}, label));
  const plot = H - PAD_BOTTOM;
  root.append(svg("line", { class: "axis", x1: 0, y1: plot + 0.5, x2: W, y2: plot + 0.5 }));
  if (!recorded) {
    root.append(svg("text", { class: "chart-note", x: W / 2, y: plot / 2 + 4, "text-anchor": "middle" }, "Not recorded: the OTLP export keeps no per-request log"));
    return h("figure", { class: "health-figure" }, root);
  }
  const max = Math.max(1, ...d.hourly.map((x) => (x.delivered ?? 0) + (x.failed ?? 0)));
  const slot = W / d.hourly.length;
  const barW = Math.max(2, slot - 4);
  d.hourly.forEach((x, i) => {
    const ok = x.delivered ?? 0;
    const bad = x.failed ?? 0;
    const left = i * slot + (slot - barW) / 2;
    const okH = (ok / max) * (plot - 4);
    const badH = (bad / max) * (plot - 4);
    const hour = new Date(x.hour);
    const hourText = hour.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
    const g = svg("g", { class: "bar" }, svg("title", {}, `${hourText}: ${ok} delivered, ${bad} failed`));
    // A transparent full-height target, so a quiet hour still shows its tooltip.
    g.append(svg("rect", { class: "hit", x: i * slot, y: 0, width: slot, height: plot }));
    if (ok) g.append(svg("rect", { class: "ok", x: left, y: plot - okH, width: barW, height: okH }));
    if (bad) g.append(svg("rect", { class: "failed", x: left, y: plot - okH - badH, width: barW, height: badH }));
    root.append(g);
    if (i % 6 === 0) root.append(svg("text", { class: "tick", x: left, y: H - 3 }, hourText));
  });
  return h(
    "figure",
    { class: "health-figure" },
    root,
    h(
      "figcaption",
      { class: "legend" },
      h("span", { class: "key ok" }),
      ` delivered (${delivered})`,
      h("span", { class: "key failed" }),
      ` failed (${failed})`,
      ` · ${unit} per hour, last 24 hours`,
    ),
  );
}
