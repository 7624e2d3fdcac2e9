// The "Configure OTEL Export" drawer: endpoint URL, headers, max batch size (1..1000,
// checked here and by the server), enabled, and the most recent export error inline at the top.

import { api, ApiError, exportPath } from "./api.js";
import { badge, field, h, notice, openDrawer, replace, time, toast } from "./dom.js";

/** `GET /orgs/{orgId}/audit-export/otel` (the OTLP export contract). */
export interface OtelConfig {
  id: string;
  endpointUrl: string;
  exportUrl?: string;
  headers: Record<string, string>;
  maxBatchSize: number;
  enabled: boolean;
  status?: "active" | "paused" | "disabled";
  pausedReason?: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  lastExportedAt: string | null;
}

interface OtelTestResult {
  success: boolean;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
}

/** The stored configuration, or null when there is none (404). */
export async function loadOtel(orgId: string): Promise<OtelConfig | null> {
  try {
    return await api<OtelConfig>("GET", exportPath(orgId, "/otel"));
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

/** The OTLP export contract: "Must be an integer between 1 and 1000". */
export function batchSizeError(value: string): string | null {
  if (!/^\d+$/.test(value.trim())) return "Max batch size must be a whole number between 1 and 1000.";
  const n = Number(value);
  return n >= 1 && n <= 1000 ? null : "Max batch size must be between 1 and 1000.";
}

/** Opens the drawer; `onChange` runs after a save or a delete. */
export function openOtelDrawer(orgId: string, onChange?: () => void): void {
  const drawer = openDrawer("Configure OTEL Export");
  replace(drawer.body, h("p", { role: "status", text: "Loading…" }));
  loadOtel(orgId)
    .then((cfg) => fillOtel(drawer.body, orgId, cfg, onChange, drawer.close))
    .catch((err) => replace(drawer.body, notice("error", err instanceof Error ? err.message : String(err))));
}

function fillOtel(body: HTMLElement, orgId: string, cfg: OtelConfig | null, onChange: (() => void) | undefined, close: () => void): void {
  const top = h("div", { class: "otel-top" });
  if (cfg?.lastError) {
    top.append(
      notice(
        "error",
        h("strong", { text: "Most recent export error" }),
        cfg.lastErrorAt ? h("span", { class: "muted" }, " · ", time(cfg.lastErrorAt)) : null,
        h("div", { class: "error-text", text: cfg.lastError }),
      ),
    );
  }
  if (cfg) {
    const st = cfg.status ?? (cfg.enabled ? "active" : "disabled");
    top.append(
      h(
        "p",
        { class: "muted" },
        "Status: ",
        badge(st, st === "active" ? "ok" : st === "paused" ? "warn" : "neutral"),
        cfg.pausedReason ? ` ${cfg.pausedReason}` : "",
        " · last export: ",
        time(cfg.lastExportedAt),
      ),
    );
  } else {
    top.append(h("p", { class: "muted", text: "Not configured: every new audit log entry will be sent as an OTLP log record once you save." }));
  }

  const url = field(
    "Endpoint URL",
    h("input", { type: "url", name: "endpointUrl", value: cfg?.endpointUrl ?? "", placeholder: "https://otel-collector.example.com:4318", required: true, autocomplete: "off" }),
    "The OTLP/HTTP receiver; http:// and https:// are supported. /v1/logs is appended unless the URL ends with it.",
  );
  const batch = field(
    "Max batch size",
    h("input", { type: "number", name: "maxBatchSize", value: String(cfg?.maxBatchSize ?? 100), min: "1", max: "1000", step: "1", required: true, inputmode: "numeric" }),
    "Records per export request, 1 to 1000.",
  );
  const enabled = h("input", { type: "checkbox", name: "enabled", id: "otel-enabled", checked: cfg ? cfg.enabled : true });

  // Headers: name/value rows. Stored values come back masked; sending a mask back keeps the value.
  const headerRows = h("div", { class: "header-rows" });
  const headersError = h("p", { class: "field-error", id: "otel-headers-error", hidden: true });
  const addHeader = (name = "", value = "") => {
    const n = h("input", { type: "text", value: name, "aria-label": "Header name", placeholder: "Authorization", autocomplete: "off" });
    const v = h("input", { type: "text", value: value, "aria-label": "Header value", placeholder: "Bearer …", autocomplete: "off", spellcheck: "false" });
    const rowEl = h("div", { class: "header-row" }, n, v);
    rowEl.append(
      h("button", {
        type: "button",
        class: "icon",
        "aria-label": `Remove header ${name || ""}`.trim(),
        onclick: () => {
          rowEl.remove();
          addBtn.focus();
        },
        text: "✕",
      }),
    );
    headerRows.append(rowEl);
    return n;
  };
  const addBtn = h("button", { type: "button", class: "secondary small", text: "Add header", onclick: () => addHeader().focus() });
  for (const [k, v] of Object.entries(cfg?.headers ?? {})) addHeader(k, v);

  const formMsg = h("div");
  const testMsg = h("div");
  const save = h("button", { type: "submit", class: "primary", text: "Save" });
  const test = h("button", { type: "button", class: "secondary", text: "Send test record", disabled: !cfg });
  const del = cfg ? h("button", { type: "button", class: "danger", text: "Delete" }) : null;
  const form = h(
    "form",
    { novalidate: true, class: "stack", "aria-label": "OTEL export" },
    url.wrap,
    h(
      "fieldset",
      { class: "headers", "aria-describedby": "otel-headers-hint otel-headers-error" },
      h("legend", { text: "Headers" }),
      h("p", { class: "hint", id: "otel-headers-hint", text: "Optional, sent with every batch (typically the receiver's token). Saved values are shown masked; leave a masked value as it is to keep it." }),
      headerRows,
      headersError,
      addBtn,
    ),
    batch.wrap,
    h("div", { class: "check" }, enabled, h("label", { for: "otel-enabled", text: "Enabled" })),
    formMsg,
    h("div", { class: "buttons" }, save, test, del, h("button", { type: "button", class: "secondary", text: "Cancel", onclick: close })),
    testMsg,
  );
  replace(body, top, form);

  const collectHeaders = (): Record<string, string> | null => {
    const out: Record<string, string> = {};
    for (const r of Array.from(headerRows.children)) {
      const [n, v] = Array.from(r.querySelectorAll("input")) as HTMLInputElement[];
      const name = n.value.trim();
      if (!name && !v.value) continue;
      if (!name) {
        headersError.textContent = "Every header needs a name.";
        headersError.hidden = false;
        n.focus();
        return null;
      }
      out[name] = v.value;
    }
    return out;
  };

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    url.setError(null);
    batch.setError(null);
    headersError.hidden = true;
    replace(formMsg);
    const endpointUrl = url.control.value.trim();
    if (!endpointUrl) {
      url.setError("Enter the receiver's URL.");
      url.control.focus();
      return;
    }
    const batchErr = batchSizeError(batch.control.value);
    if (batchErr) {
      batch.setError(batchErr);
      batch.control.focus();
      return;
    }
    const headers = collectHeaders();
    if (!headers) return;
    save.disabled = true;
    try {
      const saved = await api<OtelConfig>("POST", exportPath(orgId, "/otel"), {
        endpointUrl,
        headers,
        maxBatchSize: Number(batch.control.value),
        enabled: enabled.checked,
      });
      toast("OTEL export saved");
      onChange?.();
      fillOtel(body, orgId, saved, onChange, close);
      (body.querySelector(".otel-top") as HTMLElement | null)?.append(notice("ok", "Saved."));
    } catch (err) {
      save.disabled = false;
      const msg = err instanceof Error ? err.message : String(err);
      const f = err instanceof ApiError ? err.field ?? "" : "";
      if (f === "maxBatchSize") {
        batch.setError(msg);
        batch.control.focus();
      } else if (f === "endpointUrl") {
        url.setError(msg);
        url.control.focus();
      } else if (f.startsWith("headers")) {
        headersError.textContent = msg;
        headersError.hidden = false;
      }
      replace(formMsg, notice("error", msg));
    }
  });

  test.addEventListener("click", async () => {
    test.disabled = true;
    replace(testMsg, h("p", { role: "status", text: "Sending a test record…" }));
    try {
      const r = await api<OtelTestResult>("POST", exportPath(orgId, "/otel/test"));
      const fresh = await loadOtel(orgId);
      fillOtel(body, orgId, fresh, onChange, close);
      const msgBox = body.querySelector(".otel-top") as HTMLElement;
      msgBox.append(
        r.success
          ? notice("ok", `Test record accepted: HTTP ${r.statusCode} in ${r.latencyMs} ms.`)
          : notice("error", `Test failed${r.statusCode ? ` (HTTP ${r.statusCode})` : ""}: ${r.error ?? "the receiver refused the record"}`),
      );
    } catch (err) {
      test.disabled = false;
      replace(testMsg, notice("error", err instanceof Error ? err.message : String(err)));
    }
  });

  del?.addEventListener("click", async () => {
    if (!confirm("Delete the OTEL export configuration? New entries will no longer be sent.")) return;
    try {
      await api("DELETE", exportPath(orgId, "/otel"));
      toast("OTEL export deleted");
      onChange?.();
      fillOtel(body, orgId, null, onChange, close);
    } catch (err) {
      replace(formMsg, notice("error", err instanceof Error ? err.message : String(err)));
    }
  });
}
