// Export settings (admins and owners): the S3 destination (the AuditExport API, with the ExternalId and
// the policies to paste), webhook endpoints, and the OTEL export.

import { api, ApiError, exportPath, Whoami } from "./api.js";
import { badge, copyButton, field, h, notice, pretty, replace, time, toast } from "./dom.js";
import { loadOtel, openOtelDrawer } from "./otel.js";
import { renderWebhooks } from "./webhooks.js";

interface S3Config {
  bucket: string;
  region: string;
  roleArnMasked: string;
  enabled: boolean;
  prefix: string;
  format: string;
  externalId: string;
  lastTestedAt: string | null;
  lastTestOk: boolean | null;
  lastError: string | null;
  lastExportedAt: string | null;
  pausedReason: string | null;
}

interface Setup {
  externalId: string;
  principalArn: string;
  trustPolicy: unknown;
  permissionPolicy: unknown;
}

interface Run {
  id: string;
  startedAt: string;
  finishedAt: string | null;
  status: string;
  eventCount: number;
  objectKeys: string[];
  bytes: number;
  error: string | null;
}

export function renderExports(main: HTMLElement, who: Whoami): void {
  document.title = "Export settings · AuditRelay";
  const s3 = h("section", { class: "card", "aria-labelledby": "s3-title" });
  const hooks = h("section", { class: "card", "aria-labelledby": "webhooks-title" });
  const otel = h("section", { class: "card", "aria-labelledby": "otel-title" });
  replace(main, h("div", { class: "page-header" }, h("h1", { text: "Export settings" })), s3, hooks, otel);
  void renderS3(s3, who.org_id);
  renderWebhooks(hooks, who.org_id);
  renderOtelSummary(otel, who.org_id);
}

async function getS3(orgId: string): Promise<S3Config | null> {
  try {
    return await api<S3Config>("GET", exportPath(orgId, "/config"));
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

async function renderS3(section: HTMLElement, orgId: string): Promise<void> {
  replace(section, h("h2", { id: "s3-title", text: "Amazon S3" }), h("p", { role: "status", text: "Loading…" }));
  let cfg: S3Config | null;
  let setup: Setup;
  try {
    [cfg, setup] = await Promise.all([getS3(orgId), api<Setup>("GET", exportPath(orgId, "/setup"))]);
  } catch (err) {
    replace(section, h("h2", { id: "s3-title", text: "Amazon S3" }), notice("error", err instanceof Error ? err.message : String(err)));
    return;
  }

  const state = cfg
    ? h(
        "p",
        { class: "muted" },
        cfg.enabled ? badge("enabled", "ok") : badge(cfg.pausedReason ? "paused" : "disabled", "warn"),
        cfg.pausedReason ? ` ${cfg.pausedReason}` : "",
        " · last export: ",
        time(cfg.lastExportedAt),
        " · last test: ",
        cfg.lastTestedAt ? h("span", {}, time(cfg.lastTestedAt), cfg.lastTestOk ? " (ok)" : " (failed)") : "never",
      )
    : h("p", { class: "muted", text: "Not configured. Batches of new events are written every five minutes once saved." });

  const bucket = field("Bucket", h("input", { name: "bucket", value: cfg?.bucket ?? "", required: true, autocomplete: "off", placeholder: "acme-audit" }));
  const region = field("Region", h("input", { name: "region", value: cfg?.region ?? "", required: true, autocomplete: "off", placeholder: "eu-west-1" }));
  const roleArn = field(
    "Role ARN",
    h("input", { name: "roleArn", value: "", required: true, autocomplete: "off", placeholder: cfg ? cfg.roleArnMasked : "arn:aws:iam::111122223333:role/AuditRelayExport" }),
    cfg ? `Stored: ${cfg.roleArnMasked}. Enter the full ARN to save changes or test new values.` : "The role in your account that AuditRelay assumes with your ExternalId.",
  );
  const prefix = field("Prefix", h("input", { name: "prefix", value: cfg?.prefix ?? "audit-logs", autocomplete: "off" }), "Objects are written under {prefix}/{tenant_id}/{YYYY-MM-DD}/.");
  const format = field(
    "Format",
    h("select", { name: "format" }, h("option", { value: "jsonl", text: "JSONL" }), h("option", { value: "jsonl.gz", text: "JSONL, gzip" })),
  );
  format.control.value = cfg?.format ?? "jsonl";
  const enabled = h("input", { type: "checkbox", id: "s3-enabled", name: "enabled", checked: cfg ? cfg.enabled : true });
  const fields: Record<string, ReturnType<typeof field>> = { bucket, region, roleArn, prefix, format };

  const result = h("div", { class: "test-result" });
  const saveBtn = h("button", { type: "submit", class: "primary", text: "Save" });
  const testBtn = h("button", { type: "button", class: "secondary", text: "Test connection" });
  const delBtn = cfg ? h("button", { type: "button", class: "danger", text: "Delete" }) : null;
  const form = h(
    "form",
    { class: "grid-form", novalidate: true, "aria-label": "S3 destination" },
    bucket.wrap,
    region.wrap,
    roleArn.wrap,
    prefix.wrap,
    format.wrap,
    h("div", { class: "check" }, enabled, h("label", { for: "s3-enabled", text: "Enabled" })),
    h("div", { class: "buttons span" }, saveBtn, testBtn, delBtn),
    h("div", { class: "span" }, result),
  );

  const body = () => ({
    bucket: bucket.control.value.trim(),
    region: region.control.value.trim(),
    roleArn: roleArn.control.value.trim(),
    prefix: prefix.control.value.trim() || undefined,
    format: format.control.value,
    enabled: enabled.checked,
  });
  const showError = (err: unknown) => {
    const msg = err instanceof Error ? err.message : String(err);
    const f = err instanceof ApiError ? err.field : undefined;
    if (f && fields[f]) {
      fields[f].setError(msg);
      fields[f].control.focus();
    }
    replace(result, notice("error", msg));
  };
  const clearErrors = () => Object.values(fields).forEach((f) => f.setError(null));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors();
    const b = body();
    for (const [k, v] of [["bucket", b.bucket], ["region", b.region], ["roleArn", b.roleArn]] as const) {
      if (!v) {
        fields[k].setError("Required.");
        fields[k].control.focus();
        return;
      }
    }
    saveBtn.disabled = true;
    try {
      await api("POST", exportPath(orgId, "/config"), b);
      toast("S3 export saved");
      await renderS3(section, orgId);
    } catch (err) {
      saveBtn.disabled = false;
      showError(err);
    }
  });

  testBtn.addEventListener("click", async () => {
    clearErrors();
    const b = body();
    // With every field filled, test those values; otherwise the stored destination.
    const useForm = Boolean(b.bucket && b.region && b.roleArn);
    if (!useForm && !cfg) {
      replace(result, notice("error", "Fill in bucket, region and role ARN to test them."));
      return;
    }
    testBtn.disabled = true;
    replace(result, h("p", { role: "status", text: "Testing: assuming the role, writing and deleting a test object…" }));
    try {
      const r = await api<{ success: boolean; error?: string | null }>("POST", exportPath(orgId, "/test-connection"), useForm ? b : undefined);
      replace(
        result,
        r.success
          ? notice("ok", `Connection works: AuditRelay could assume the role and write to ${useForm ? b.bucket : cfg?.bucket}.`)
          : notice("error", `Connection failed: ${r.error ?? "unknown error"}`),
      );
    } catch (err) {
      showError(err);
    } finally {
      testBtn.disabled = false;
    }
  });

  delBtn?.addEventListener("click", async () => {
    if (!confirm("Delete the S3 destination? Its export position is forgotten.")) return;
    try {
      await api("DELETE", exportPath(orgId, "/config"));
      toast("S3 export deleted");
      await renderS3(section, orgId);
    } catch (err) {
      showError(err);
    }
  });

  const trust = pretty(setup.trustPolicy);
  const permission = pretty(setup.permissionPolicy);
  const grant = h(
    "details",
    { class: "grant", open: !cfg },
    h("summary", { text: "Grant access: your ExternalId and the policies to paste" }),
    h(
      "div",
      { class: "kv" },
      h("span", { text: "ExternalId" }),
      h("code", { class: "secret", text: setup.externalId }),
      copyButton("Copy", () => setup.externalId, "Copy the ExternalId"),
    ),
    h(
      "div",
      { class: "kv" },
      h("span", { text: "Principal" }),
      h("code", { text: setup.principalArn }),
      copyButton("Copy", () => setup.principalArn, "Copy the principal ARN"),
    ),
    h("div", { class: "row-between" }, h("h3", { text: "Trust policy of your role" }), copyButton("Copy", () => trust, "Copy the trust policy")),
    h("pre", { class: "json", tabindex: "0", "aria-label": "Trust policy" }, trust),
    h("div", { class: "row-between" }, h("h3", { text: "Permission policy" }), copyButton("Copy", () => permission, "Copy the permission policy")),
    h("pre", { class: "json", tabindex: "0", "aria-label": "Permission policy" }, permission),
  );

  const runs = h("div");
  replace(section, h("h2", { id: "s3-title", text: "Amazon S3" }), state, cfg?.lastError ? notice("error", `Last error: ${cfg.lastError}`) : null, form, grant, h("h3", { text: "Recent runs" }), runs);
  try {
    const list = await api<Run[]>("GET", exportPath(orgId, "/runs?limit=10"));
    if (!list.length) {
      replace(runs, h("p", { class: "muted", text: "No runs yet (runs with nothing to export are not recorded)." }));
    } else {
      replace(
        runs,
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            {},
            h("thead", {}, h("tr", {}, ...["Started", "Status", "Events", "Objects", "Bytes", "Error"].map((c) => h("th", { scope: "col", text: c })))),
            h(
              "tbody",
              {},
              list.map((r) =>
                h(
                  "tr",
                  {},
                  h("td", { class: "nowrap" }, time(r.startedAt)),
                  h("td", {}, badge(r.status, r.status === "succeeded" ? "ok" : r.status === "failed" ? "error" : "warn")),
                  h("td", { text: String(r.eventCount) }),
                  h("td", { title: r.objectKeys.join("\n"), text: String(r.objectKeys.length) }),
                  h("td", { text: String(r.bytes) }),
                  h("td", { text: r.error ?? "" }),
                ),
              ),
            ),
          ),
        ),
      );
    }
  } catch (err) {
    replace(runs, notice("error", err instanceof Error ? err.message : String(err)));
  }
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
