// The continuous export (GET|POST|DELETE .../audit-export/config): where five-minute batches
// go. One form with a type choice that shows only the fields the type needs: Amazon S3 (an IAM
// role, or a bucket policy proven by an ownership token), an S3-compatible store, Google Cloud
// Storage, Azure Blob Storage. Plus the connection test, the grant to paste, and recent runs.

import { api, ApiError, exportPath } from "./api.js";
import { Credential, CREDENTIAL_LABELS, CredentialType, loadCredentials } from "./credentials.js";
import { badge, copyButton, field, Field, h, notice, pretty, replace, time, toast } from "./dom.js";

interface Config {
  type: "s3" | "gcs" | "azure_blob";
  bucket: string;
  region: string;
  access: "role" | "credentials" | "bucket_policy";
  roleArnMasked: string | null;
  credentialsPath: string | null;
  endpointUrl: string | null;
  forcePathStyle: boolean;
  accountName: string | null;
  enabled: boolean;
  status: "active" | "disabled" | "paused" | "pendingVerification";
  prefix: string;
  format: string;
  schema?: string;
  layout?: Layout;
  securityLake?: SecurityLake | null;
  externalId: string;
  lastTestedAt: string | null;
  lastTestOk: boolean | null;
  lastError: string | null;
  lastExportedAt: string | null;
  pausedReason: string | null;
}

/** How batches are laid out: the standard paths, or Amazon Security Lake custom sources. */
type Layout = "standard" | "security_lake";

interface SecurityLake {
  accountId: string;
  region: string;
  sources: Record<string, string>;
}

/** Security Lake's event classes of the three OCSF classes AuditRelay writes (docs/security-lake.md). */
const LAKE_CLASSES: [string, string, string][] = [
  ["ACCOUNT_CHANGE", "Account Change source", "auditrelay_acct"],
  ["AUTHENTICATION", "Authentication source", "auditrelay_auth"],
  ["API_ACTIVITY", "API Activity source", "auditrelay_api"],
];

interface Setup {
  externalId: string;
  principalArn: string;
  trustPolicy: unknown;
  permissionPolicy: unknown;
  bucketPolicy: unknown;
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

interface TestResult {
  success: boolean;
  error?: string | null;
  verificationObject?: string | null;
}

/** What the form offers: Amazon S3 and S3-compatible stores are both `type: s3` on the wire. */
type Choice = "s3" | "s3_compatible" | "gcs" | "azure_blob";

const CHOICES: [Choice, string][] = [
  ["s3", "Amazon S3"],
  ["s3_compatible", "S3-compatible (MinIO, R2, Ceph…)"],
  ["gcs", "Google Cloud Storage"],
  ["azure_blob", "Azure Blob Storage"],
];

/** The stored credential types each choice can sign with. */
const CREDENTIAL_TYPES: Record<Choice, CredentialType[]> = {
  s3: [],
  s3_compatible: ["s3_access_key"],
  gcs: ["gcs_service_account"],
  azure_blob: ["azure_shared_key", "azure_sas"],
};

const TITLE = "Continuous export";

/** The events' shapes a file can carry (docs/shapes.md). */
export type Schema = "canonical" | "columnar" | "ocsf";

const SCHEMAS: [Schema, string][] = [
  ["canonical", "Canonical (the API's event)"],
  ["columnar", "Columnar (flat columns)"],
  ["ocsf", "OCSF 1.3.0"],
];

const FORMATS: [string, string][] = [
  ["jsonl", "JSONL"],
  ["jsonl.gz", "JSONL, gzip"],
  ["csv", "CSV"],
  ["csv.gz", "CSV, gzip"],
  ["parquet", "Parquet"],
];

/** The allowed pairs, as the server's table (relay_core::model::file_format): the first format is the schema's default. */
const FORMATS_OF: Record<Schema, string[]> = {
  canonical: ["jsonl", "jsonl.gz"],
  columnar: ["csv", "csv.gz", "parquet", "jsonl", "jsonl.gz"],
  ocsf: ["jsonl", "jsonl.gz"],
};

/** The one-line explanation under the format for each schema. */
const FORMAT_HINT: Record<Schema, string> = {
  canonical: "Canonical events are nested: JSONL only (CSV and Parquet need the columnar schema).",
  columnar: "Columnar rows fit every format; Parquet has typed columns.",
  ocsf: "OCSF records are nested: JSONL only here (OCSF Parquet is the Amazon Security Lake layout's).",
};

/**
 * The schema and format choices of a file output (the continuous export, export jobs): the
 * format offers only what the chosen schema allows, with the reason under it, and keeps its
 * value when still allowed.
 */
export function shapeFields(initialSchema: Schema, initialFormat: string): { schema: Field; format: Field } {
  const schema = field("Schema", h("select", { name: "schema" }, ...SCHEMAS.map(([v, l]) => h("option", { value: v, text: l }))), "The events' shape in the files (see the shapes documentation).");
  schema.control.value = initialSchema;
  const format = field("Format", h("select", { name: "format" }, ...FORMATS.map(([v, l]) => h("option", { value: v, text: l }))), FORMAT_HINT[initialSchema]);
  format.control.value = initialFormat;
  const fitFormats = () => {
    const s = schema.control.value as Schema;
    const allowed = FORMATS_OF[s];
    for (const opt of Array.from((format.control as HTMLSelectElement).options)) {
      const ok = allowed.includes(opt.value);
      opt.disabled = !ok;
      opt.hidden = !ok;
    }
    if (!allowed.includes(format.control.value)) format.control.value = allowed[0];
    format.wrap.querySelector(".hint")!.textContent = FORMAT_HINT[s];
  };
  schema.control.addEventListener("change", fitFormats);
  fitFormats();
  return { schema, format };
}

/** The schema a stored config has (older configs answer without one: their format's default). */
function schemaOf(cfg: Config | null): Schema {
  const s = cfg?.schema;
  if (s === "canonical" || s === "columnar" || s === "ocsf") return s;
  const f = cfg?.format ?? "jsonl";
  return f.startsWith("jsonl") ? "canonical" : "columnar";
}

function choiceOf(cfg: Config | null): Choice {
  if (!cfg || (cfg.type === "s3" && cfg.access !== "credentials")) return "s3";
  if (cfg.type === "s3") return "s3_compatible";
  return cfg.type;
}

async function getConfig(orgId: string): Promise<Config | null> {
  try {
    return await api<Config>("GET", exportPath(orgId, "/config"));
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

function stateLine(cfg: Config | null): HTMLElement {
  if (!cfg) return h("p", { class: "muted", text: "Not configured. Batches of new events are written every five minutes once saved." });
  const label: Record<Config["status"], [string, string]> = {
    active: ["enabled", "ok"],
    disabled: ["disabled", "warn"],
    paused: ["paused", "warn"],
    pendingVerification: ["waiting for verification", "warn"],
  };
  const [text, kind] = label[cfg.status] ?? [cfg.status, "neutral"];
  return h(
    "p",
    { class: "muted" },
    badge(text, kind),
    cfg.pausedReason ? ` ${cfg.pausedReason}` : "",
    " · files: ",
    h("span", { class: "saved-shape", text: cfg.layout === "security_lake" ? `Security Lake (${schemaOf(cfg)} schema, ${cfg.format})` : `${schemaOf(cfg)} schema, ${cfg.format}` }),
    " · last export: ",
    time(cfg.lastExportedAt),
    " · last test: ",
    cfg.lastTestedAt ? h("span", {}, time(cfg.lastTestedAt), cfg.lastTestOk ? " (ok)" : " (failed)") : "never",
  );
}

/** Renders the card; `refreshHealth` runs after a change (the health panel follows). */
export async function renderDestination(section: HTMLElement, orgId: string, refreshHealth: () => void = () => {}): Promise<void> {
  const heading = () => h("h2", { id: "s3-title", text: TITLE });
  replace(section, heading(), h("p", { role: "status", text: "Loading…" }));
  let cfg: Config | null;
  let setup: Setup;
  let creds: Credential[];
  try {
    [cfg, setup, creds] = await Promise.all([getConfig(orgId), api<Setup>("GET", exportPath(orgId, "/setup")), loadCredentials(orgId).catch(() => [])]);
  } catch (err) {
    replace(section, heading(), notice("error", err instanceof Error ? err.message : String(err)));
    return;
  }
  const rerender = async () => {
    refreshHealth();
    await renderDestination(section, orgId, refreshHealth);
  };

  // Every control, built once; `layout()` shows those the chosen type needs.
  const choice = field("Destination type", h("select", { name: "type" }, ...CHOICES.map(([v, l]) => h("option", { value: v, text: l }))));
  choice.control.value = choiceOf(cfg);
  const access = field(
    "Access",
    h("select", { name: "access" }, h("option", { value: "role", text: "IAM role (with your ExternalId)" }), h("option", { value: "bucket_policy", text: "Bucket policy (no role)" })),
    "A role you create, or a bucket policy that lets AuditRelay's principal put objects.",
  );
  access.control.value = cfg?.access === "bucket_policy" ? "bucket_policy" : "role";
  const endpointUrl = field("Endpoint URL", h("input", { name: "endpointUrl", type: "url", value: cfg?.endpointUrl ?? "", autocomplete: "off", placeholder: "https://minio.example.com:9000" }), "Optional: an emulator or a private endpoint.");
  const bucket = field("Bucket", h("input", { name: "bucket", value: cfg?.bucket ?? "", required: true, autocomplete: "off", placeholder: "acme-audit" }));
  const region = field("Region", h("input", { name: "region", value: cfg?.region ?? "", autocomplete: "off", placeholder: "eu-west-1" }));
  const roleArn = field(
    "Role ARN",
    h("input", { name: "roleArn", value: "", autocomplete: "off", placeholder: cfg?.roleArnMasked ?? "arn:aws:iam::111122223333:role/AuditRelayExport" }),
    cfg?.roleArnMasked ? `Stored: ${cfg.roleArnMasked}. Enter the full ARN to save changes or test new values.` : "The role in your account that AuditRelay assumes with your ExternalId.",
  );
  const accountName = field("Storage account", h("input", { name: "accountName", value: cfg?.accountName ?? "", autocomplete: "off", placeholder: "acmeaudit" }), "Optional: the credential's account when empty.");
  const credentialSelect = h("select", { name: "credentialsPath" });
  const credential = field("Credential", credentialSelect);
  const pathStyle = h("input", { type: "checkbox", id: "s3-path-style", name: "forcePathStyle", checked: cfg && choiceOf(cfg) === "s3_compatible" ? cfg.forcePathStyle : true });
  const pathStyleWrap = h("div", { class: "check" }, pathStyle, h("label", { for: "s3-path-style", text: "Path-style requests" }), h("span", { class: "hint", text: "{endpoint}/{name}/{key}: most self-hosted stores need it." }));
  const prefix = field("Prefix", h("input", { name: "prefix", value: cfg?.prefix ?? "audit-logs", autocomplete: "off" }), "Objects are written under {prefix}/{tenant_id}/{YYYY-MM-DD}/.");
  const { schema, format } = shapeFields(schemaOf(cfg), cfg?.format ?? "jsonl");
  const layoutField = field(
    "Layout",
    h("select", { name: "layout" }, h("option", { value: "standard", text: "Standard ({prefix}/{tenant_id}/{date}/)" }), h("option", { value: "security_lake", text: "Amazon Security Lake (OCSF Parquet)" })),
    "Security Lake: one custom source per OCSF class, OCSF records in Parquet (see docs/security-lake.md).",
  );
  layoutField.control.value = cfg?.layout ?? "standard";
  const lake = cfg?.securityLake ?? null;
  const lakeAccount = field("Security Lake account id", h("input", { name: "securityLake.accountId", value: lake?.accountId ?? "", autocomplete: "off", placeholder: "111122223333", inputmode: "numeric" }), "The accountId partition: 12 digits.");
  const lakeRegion = field("Security Lake region", h("input", { name: "securityLake.region", value: lake?.region ?? "", autocomplete: "off", placeholder: "the bucket's region" }), "Optional: the region partition, by default the bucket's.");
  const lakeSources = LAKE_CLASSES.map(([cls, label, example]) => {
    const f = field(label, h("input", { name: `securityLake.sources.${cls}`, value: lake?.sources?.[cls] ?? "", autocomplete: "off", placeholder: example }), `The custom source registered with --event-classes ${cls} (1-20 letters, digits, _ - . :).`);
    return [cls, f] as [string, Field];
  });
  const enabled = h("input", { type: "checkbox", id: "s3-enabled", name: "enabled", checked: cfg ? cfg.enabled : true });
  const fields: Record<string, Field> = {
    type: choice,
    access,
    endpointUrl,
    bucket,
    region,
    roleArn,
    accountName,
    credentialsPath: credential,
    prefix,
    schema,
    format,
    layout: layoutField,
    securityLake: lakeAccount,
    "securityLake.accountId": lakeAccount,
    "securityLake.region": lakeRegion,
    ...Object.fromEntries(lakeSources.map(([cls, f]) => [`securityLake.sources.${cls}`, f])),
  };
  /** Whether the form writes to Security Lake (Amazon S3 only). */
  const isLake = () => choice.control.value === "s3" && layoutField.control.value === "security_lake";

  const fillCredentials = () => {
    const types = CREDENTIAL_TYPES[choice.control.value as Choice];
    const usable = creds.filter((c) => types.includes(c.type));
    const current = credentialSelect.value || cfg?.credentialsPath || "";
    replace(
      credentialSelect,
      h("option", { value: "", text: usable.length ? "Choose a stored credential" : "No stored credential of this kind yet" }),
      usable.map((c) => h("option", { value: c.name, text: `${c.name} (${CREDENTIAL_LABELS[c.type]})` })),
    );
    credentialSelect.value = usable.some((c) => c.name === current) ? current : "";
  };

  const layout = () => {
    const c = choice.control.value as Choice;
    const policy = c === "s3" && access.control.value === "bucket_policy";
    const show = (el: HTMLElement, on: boolean) => (el.hidden = !on);
    show(access.wrap, c === "s3");
    show(roleArn.wrap, c === "s3" && !policy);
    show(region.wrap, c === "s3" || c === "s3_compatible");
    show(endpointUrl.wrap, c !== "s3");
    show(pathStyleWrap, c === "s3_compatible");
    show(credential.wrap, c !== "s3");
    show(accountName.wrap, c === "azure_blob");
    bucket.wrap.querySelector("label")!.textContent = c === "azure_blob" ? "Container" : "Bucket";
    endpointUrl.wrap.querySelector(".hint")!.textContent =
      c === "s3_compatible" ? "Required: your store's S3 endpoint." : "Optional: an emulator or a private endpoint.";
    (region.control as HTMLInputElement).placeholder = c === "s3_compatible" ? "us-east-1 (or auto)" : "eu-west-1";
    const lakeOn = isLake();
    show(layoutField.wrap, c === "s3");
    for (const f of [lakeAccount, lakeRegion, ...lakeSources.map(([, f]) => f)]) show(f.wrap, lakeOn);
    // Security Lake takes OCSF in Parquet only, and its bucket has no prefix of ours.
    show(schema.wrap, !lakeOn);
    show(format.wrap, !lakeOn);
    prefix.wrap.querySelector(".hint")!.textContent = lakeOn
      ? "Optional, usually empty: objects go to ext/{source}/region={region}/accountId={account}/eventDay={YYYYMMDD}/."
      : "Objects are written under {prefix}/{tenant_id}/{YYYY-MM-DD}/.";
    fillCredentials();
  };
  const switchLayout = () => {
    const p = prefix.control as HTMLInputElement;
    if (isLake() && p.value.trim() === "audit-logs") p.value = "";
    if (!isLake() && !p.value.trim()) p.value = "audit-logs";
    layout();
  };
  choice.control.addEventListener("change", switchLayout);
  access.control.addEventListener("change", layout);
  layoutField.control.addEventListener("change", switchLayout);
  layout();

  const body = (): Record<string, unknown> => {
    const c = choice.control.value as Choice;
    const v = (f: Field) => f.control.value.trim();
    const b: Record<string, unknown> = {
      type: c === "s3_compatible" ? "s3" : c,
      bucket: v(bucket),
      prefix: v(prefix) || undefined,
      schema: schema.control.value,
      format: format.control.value,
      enabled: enabled.checked,
    };
    if (c === "s3") {
      b.region = v(region);
      if (access.control.value === "bucket_policy") b.access = "bucket_policy";
      else b.roleArn = v(roleArn);
    } else {
      b.credentialsPath = credentialSelect.value;
      if (v(endpointUrl)) b.endpointUrl = v(endpointUrl);
    }
    if (c === "s3_compatible") {
      if (v(region)) b.region = v(region);
      b.forcePathStyle = pathStyle.checked;
    }
    if (c === "azure_blob" && v(accountName)) b.accountName = v(accountName);
    if (c === "s3") b.layout = layoutField.control.value;
    if (isLake()) {
      delete b.schema;
      delete b.format;
      const sl: Record<string, unknown> = {
        accountId: v(lakeAccount),
        sources: Object.fromEntries(lakeSources.map(([cls, f]) => [cls, v(f)])),
      };
      if (v(lakeRegion)) sl.region = v(lakeRegion);
      b.securityLake = sl;
    }
    return b;
  };
  /** The required fields the form is missing, by API field name. */
  const missing = (b: Record<string, unknown>): string[] => {
    const c = choice.control.value as Choice;
    const need = ["bucket"];
    if (c === "s3") need.push("region", ...(b.access ? [] : ["roleArn"]));
    else need.push("credentialsPath");
    if (c === "s3_compatible") need.push("endpointUrl");
    const gaps = need.filter((k) => !b[k]);
    if (isLake()) {
      const sl = b.securityLake as { accountId: string; sources: Record<string, string> };
      if (!sl.accountId) gaps.push("securityLake.accountId");
      for (const [cls] of LAKE_CLASSES) if (!sl.sources[cls]) gaps.push(`securityLake.sources.${cls}`);
    }
    return gaps;
  };

  const result = h("div", { class: "test-result" });
  const saveBtn = h("button", { type: "submit", class: "primary", text: "Save" });
  const testBtn = h("button", { type: "button", class: "secondary", text: "Test connection" });
  const delBtn = cfg ? h("button", { type: "button", class: "danger", text: "Delete" }) : null;
  const form = h(
    "form",
    { class: "grid-form", novalidate: true, "aria-label": "S3 destination" },
    choice.wrap,
    access.wrap,
    endpointUrl.wrap,
    bucket.wrap,
    region.wrap,
    accountName.wrap,
    roleArn.wrap,
    credential.wrap,
    layoutField.wrap,
    lakeAccount.wrap,
    lakeRegion.wrap,
    ...lakeSources.map(([, f]) => f.wrap),
    prefix.wrap,
    schema.wrap,
    format.wrap,
    h("div", { class: "span" }, pathStyleWrap),
    h("div", { class: "check" }, enabled, h("label", { for: "s3-enabled", text: "Enabled" })),
    h("div", { class: "buttons span" }, saveBtn, testBtn, delBtn),
    h("div", { class: "span" }, result),
  );

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
  const requireAll = (b: Record<string, unknown>): boolean => {
    const gaps = missing(b);
    for (const k of gaps) fields[k].setError("Required.");
    if (gaps.length) fields[gaps[0]].control.focus();
    return !gaps.length;
  };

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors();
    const b = body();
    if (!requireAll(b)) return;
    saveBtn.disabled = true;
    try {
      const saved = await api<Config>("POST", exportPath(orgId, "/config"), b);
      toast(saved.status === "pendingVerification" ? "Saved: waiting for the ownership token" : "Continuous export saved");
      await rerender();
    } catch (err) {
      saveBtn.disabled = false;
      showError(err);
    }
  });

  testBtn.addEventListener("click", async () => {
    clearErrors();
    const b = body();
    // With every field filled, test those values; otherwise the stored destination.
    const useForm = missing(b).length === 0;
    if (!useForm && !cfg) {
      requireAll(b);
      replace(result, notice("error", "Fill in the required fields to test them."));
      return;
    }
    testBtn.disabled = true;
    replace(result, h("p", { role: "status", text: "Testing: writing a test object…" }));
    try {
      const r = await api<TestResult>("POST", exportPath(orgId, "/test-connection"), useForm ? b : undefined);
      const where = useForm ? String(b.bucket) : cfg?.bucket;
      replace(
        result,
        r.success
          ? notice("ok", `Connection works: AuditRelay could write to ${where}.`)
          : notice("error", `Connection failed: ${r.error ?? "unknown error"}`),
      );
    } catch (err) {
      showError(err);
    } finally {
      testBtn.disabled = false;
    }
  });

  delBtn?.addEventListener("click", async () => {
    if (!confirm("Delete the continuous export? Its export position is forgotten.")) return;
    try {
      await api("DELETE", exportPath(orgId, "/config"));
      toast("Continuous export deleted");
      await rerender();
    } catch (err) {
      showError(err);
    }
  });

  const runs = h("div");
  replace(
    section,
    heading(),
    stateLine(cfg),
    cfg?.lastError ? notice("error", `Last error: ${cfg.lastError}`) : null,
    cfg?.access === "bucket_policy" ? verification(orgId, cfg, setup, rerender) : null,
    form,
    grant(cfg, setup),
    h("h3", { text: "Recent runs" }),
    runs,
  );
  await renderRuns(runs, orgId);
}

/** The ownership step of bucket-policy access: the policy, the verification file, the token. */
function verification(orgId: string, cfg: Config, setup: Setup, rerender: () => Promise<void>): HTMLElement {
  const policy = pretty(setup.bucketPolicy);
  if (cfg.status !== "pendingVerification") {
    return h(
      "section",
      { class: "verify", "aria-label": "Bucket ownership" },
      notice("ok", `Bucket ownership verified: AuditRelay writes to ${cfg.bucket} through your bucket policy.`),
    );
  }
  const testResult = h("div");
  const testBtn = h("button", { type: "button", class: "secondary", text: "Test connection and write the verification file" });
  const tokenInput = h("input", { id: "verify-token", name: "token", autocomplete: "off", spellcheck: "false", "aria-describedby": "verify-token-error" });
  const tokenError = h("p", { class: "field-error", id: "verify-token-error", hidden: true });
  const verifyBtn = h("button", { type: "submit", class: "primary", text: "Verify" });
  const verifyResult = h("div");

  testBtn.addEventListener("click", async () => {
    testBtn.disabled = true;
    replace(testResult, h("p", { role: "status", text: "Writing the verification file…" }));
    try {
      const r = await api<TestResult>("POST", exportPath(orgId, "/test-connection"));
      if (r.success && r.verificationObject) {
        replace(
          testResult,
          notice(
            "ok",
            h("p", {}, "Wrote ", h("code", { class: "verification-object", text: `s3://${cfg.bucket}/${r.verificationObject}` }), "."),
            h("p", { text: "Open that file in your bucket and paste its content below." }),
          ),
        );
        tokenInput.focus();
      } else {
        replace(testResult, notice("error", `Connection failed: ${r.error ?? "the file could not be written"}. Check the bucket policy above.`));
      }
    } catch (err) {
      replace(testResult, notice("error", err instanceof Error ? err.message : String(err)));
    } finally {
      testBtn.disabled = false;
    }
  });

  const form = h(
    "form",
    { novalidate: true, "aria-label": "Verify the bucket" },
    h(
      "div",
      { class: "token-row" },
      h("div", { class: "field" }, h("label", { for: "verify-token", text: "Ownership token" }), tokenInput, tokenError),
      verifyBtn,
    ),
    verifyResult,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    tokenError.hidden = true;
    tokenInput.removeAttribute("aria-invalid");
    const token = tokenInput.value.trim();
    const fail = (msg: string) => {
      tokenError.textContent = msg;
      tokenError.hidden = false;
      tokenInput.setAttribute("aria-invalid", "true");
      tokenInput.focus();
    };
    if (!token) return fail("Paste the token from the verification file.");
    verifyBtn.disabled = true;
    try {
      await api("POST", exportPath(orgId, "/verify"), { token });
      toast("Bucket verified: the export is active");
      await rerender();
    } catch (err) {
      verifyBtn.disabled = false;
      fail(err instanceof Error ? err.message : String(err));
      replace(verifyResult, notice("error", err instanceof Error ? err.message : String(err)));
    }
  });

  return h(
    "section",
    { class: "verify", "aria-labelledby": "verify-title" },
    h("h3", { id: "verify-title", text: "Prove you own the bucket" }),
    notice("info", "Nothing is exported until the bucket is verified."),
    h(
      "ol",
      {},
      h(
        "li",
        {},
        h("div", { class: "row-between" }, h("span", { text: "Add this statement to the bucket policy of " + cfg.bucket + ":" }), copyButton("Copy", () => policy, "Copy the bucket policy")),
        h("pre", { class: "json", tabindex: "0", "aria-label": "Bucket policy" }, policy),
      ),
      h("li", {}, h("p", { text: "Write the verification file: it holds a one-time token." }), testBtn, testResult),
      h("li", {}, form),
    ),
  );
}

/** The role grant: the ExternalId and the policies to paste (or the bucket policy). */
function grant(cfg: Config | null, setup: Setup): HTMLElement {
  const trust = pretty(setup.trustPolicy);
  const permission = pretty(setup.permissionPolicy);
  return h(
    "details",
    { class: "grant", open: !cfg },
    h("summary", { text: "Grant access (Amazon S3): your ExternalId and the policies to paste" }),
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
}

async function renderRuns(host: HTMLElement, orgId: string): Promise<void> {
  try {
    const list = await api<Run[]>("GET", exportPath(orgId, "/runs?limit=10"));
    if (!list.length) {
      replace(host, h("p", { class: "muted", text: "No runs yet (runs with nothing to export are not recorded)." }));
      return;
    }
    replace(
      host,
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
  } catch (err) {
    replace(host, notice("error", err instanceof Error ? err.message : String(err)));
  }
}
