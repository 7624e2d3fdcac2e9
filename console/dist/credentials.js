// Stored credentials (S3-compatible stores, GCS, Azure): list (masked), create, rotate, delete.
// Secrets are write-only here: password inputs, never pre-filled, cleared after saving, and
// only ever shown as the API's masked values.
import { api, ApiError, exportPath } from "./api.js";
import { field, h, notice, replace, time, toast } from "./dom.js";
export const CREDENTIAL_LABELS = {
    s3_access_key: "S3 access key",
    gcs_service_account: "GCS service account",
    azure_shared_key: "Azure shared key",
    azure_sas: "Azure SAS token",
};
const INPUTS = {
    s3_access_key: [
        { name: "accessKeyId", label: "Access key ID", secret: true },
        { name: "secretAccessKey", label: "Secret access key", secret: true },
    ],
    gcs_service_account: [
        { name: "serviceAccountJson", label: "Service account key (JSON)", secret: true, hint: "Paste the key file's JSON, or choose the file below." },
    ],
    azure_shared_key: [
        { name: "accountName", label: "Storage account", secret: false },
        { name: "accountKey", label: "Account key", secret: true },
    ],
    azure_sas: [
        { name: "accountName", label: "Storage account", secret: false },
        { name: "sasToken", label: "SAS token", secret: true },
    ],
};
export async function loadCredentials(orgId) {
    const r = await api("GET", exportPath(orgId, "/credentials"));
    return r.data;
}
/** A credential's masked fields as text (`accessKeyId ****1234`, a key file's client e-mail). */
function maskedText(c) {
    const parts = [];
    for (const [k, v] of Object.entries(c)) {
        if (["name", "type", "createdAt", "updatedAt"].includes(k))
            continue;
        if (v && typeof v === "object") {
            const o = v;
            parts.push(`${k}: ${Object.entries(o).map(([a, b]) => `${a} ${String(b)}`).join(", ")}`);
        }
        else {
            parts.push(`${k} ${String(v)}`);
        }
    }
    return parts.join(" · ");
}
/** The credentials card. `onChange` runs after a credential is created, rotated or deleted. */
export function renderCredentials(section, orgId, onChange) {
    const heading = () => h("h2", { id: "credentials-title", text: "Stored credentials" });
    const intro = () => h("p", { class: "muted", text: "For S3-compatible stores, Google Cloud Storage and Azure Blob Storage. Secrets are sealed when saved and never shown again; rotate to replace them." });
    replace(section, heading(), intro(), h("p", { role: "status", text: "Loading…" }));
    const refresh = () => {
        onChange();
        renderCredentials(section, orgId, onChange);
    };
    const formHost = h("div");
    const list = h("div");
    loadCredentials(orgId)
        .then((creds) => {
        replace(list, credentialTable(creds, orgId, formHost, refresh));
        replace(formHost, credentialForm(orgId, null, refresh));
        replace(section, heading(), intro(), list, formHost);
    })
        .catch((err) => replace(section, heading(), notice("error", err instanceof Error ? err.message : String(err))));
}
function credentialTable(creds, orgId, formHost, refresh) {
    if (!creds.length)
        return h("p", { class: "muted", text: "No stored credentials." });
    return h("div", { class: "table-wrap" }, h("table", { class: "credentials" }, h("thead", {}, h("tr", {}, ...["Name", "Type", "Stored values", "Updated", ""].map((c) => h("th", { scope: "col", text: c })))), h("tbody", {}, creds.map((c) => {
        const msg = h("div");
        const rotate = h("button", { type: "button", class: "secondary small", "aria-label": `Rotate ${c.name}`, text: "Rotate" });
        const del = h("button", { type: "button", class: "danger small", "aria-label": `Delete ${c.name}`, text: "Delete" });
        rotate.addEventListener("click", () => {
            replace(formHost, credentialForm(orgId, c, refresh));
            formHost.querySelector("input[type=password]")?.focus();
        });
        del.addEventListener("click", async () => {
            if (!confirm(`Delete the credential ${c.name}?`))
                return;
            del.disabled = true;
            try {
                await api("DELETE", exportPath(orgId, `/credentials/${encodeURIComponent(c.name)}`));
                toast(`Credential ${c.name} deleted`);
                refresh();
            }
            catch (err) {
                del.disabled = false;
                const text = err instanceof ApiError && err.status === 409 ? `Not deleted: ${err.message}` : err instanceof Error ? err.message : String(err);
                replace(msg, notice("error", text));
            }
        });
        return h("tr", { "data-credential": c.name }, h("td", {}, h("strong", { text: c.name })), h("td", { text: CREDENTIAL_LABELS[c.type] ?? c.type }), h("td", {}, h("code", { class: "masked", text: maskedText(c) })), h("td", { class: "nowrap" }, time(c.updatedAt)), h("td", {}, h("div", { class: "buttons" }, rotate, del), msg));
    }))));
}
/** The form that creates a credential, or rotates `existing` (same name and type). */
function credentialForm(orgId, existing, refresh) {
    const rotating = existing !== null;
    const name = field("Name", h("input", { name: "credential-name", autocomplete: "off", value: existing?.name ?? "", readonly: rotating, placeholder: "minio-prod" }), "Letters, digits, - and _; the destination names it.");
    const typeSelect = h("select", { name: "credential-type", disabled: rotating }, ...Object.entries(CREDENTIAL_LABELS).map(([v, l]) => h("option", { value: v, text: l })));
    typeSelect.value = existing?.type ?? "s3_access_key";
    const type = field("Type", typeSelect);
    const secretsHost = h("div", { class: "cred-secrets" });
    let secretFields = [];
    const result = h("div", { class: "span" });
    const buildSecrets = () => {
        secretFields = INPUTS[typeSelect.value].map((input) => ({
            input,
            f: field(input.label, h("input", {
                name: input.name,
                type: input.secret ? "password" : "text",
                // Never let the browser offer a saved password here, nor save this one.
                autocomplete: input.secret ? "new-password" : "off",
                spellcheck: "false",
            }), input.hint),
        }));
        const file = typeSelect.value === "gcs_service_account" ? keyFilePicker(() => secretFields[0].f.control) : null;
        replace(secretsHost, secretFields.map((s) => s.f.wrap), file);
    };
    typeSelect.addEventListener("change", buildSecrets);
    buildSecrets();
    const submit = h("button", { type: "submit", class: "primary", text: rotating ? "Rotate credential" : "Save credential" });
    const cancel = rotating ? h("button", { type: "button", class: "secondary", text: "Cancel", onclick: () => refresh() }) : null;
    const form = h("form", { class: "grid-form", novalidate: true, "aria-label": rotating ? `Rotate credential ${existing?.name}` : "New credential" }, h("h3", { class: "span", text: rotating ? `Rotate ${existing?.name}` : "Add a credential" }), name.wrap, type.wrap, secretsHost, h("div", { class: "buttons span" }, submit, cancel), result);
    form.addEventListener("submit", async (e) => {
        e.preventDefault();
        name.setError(null);
        secretFields.forEach((s) => s.f.setError(null));
        const body = { name: name.control.value.trim(), type: typeSelect.value };
        if (!body.name) {
            name.setError("Required.");
            name.control.focus();
            return;
        }
        for (const s of secretFields) {
            const v = s.f.control.value.trim();
            if (!v) {
                s.f.setError("Required.");
                s.f.control.focus();
                return;
            }
            if (s.input.name === "serviceAccountJson") {
                try {
                    body[s.input.name] = JSON.parse(v);
                }
                catch {
                    s.f.setError("Must be the key file's JSON.");
                    s.f.control.focus();
                    return;
                }
            }
            else {
                body[s.input.name] = v;
            }
        }
        submit.disabled = true;
        try {
            await api("POST", exportPath(orgId, "/credentials"), body);
            // The secrets leave the page with the form: nothing keeps them.
            secretFields.forEach((s) => (s.f.control.value = ""));
            toast(rotating ? `Credential ${String(body.name)} rotated` : `Credential ${String(body.name)} saved`);
            refresh();
        }
        catch (err) {
            submit.disabled = false;
            const msg = err instanceof Error ? err.message : String(err);
            const f = err instanceof ApiError ? err.field : undefined;
            const target = f === "name" ? name : f === "type" ? type : secretFields.find((s) => f && f.startsWith(s.input.name))?.f;
            if (target) {
                target.setError(msg);
                target.control.focus();
            }
            replace(result, notice("error", msg));
        }
    });
    return form;
}
/** Reads a chosen key file into the (password) input, so its text is never displayed. */
function keyFilePicker(target) {
    const input = h("input", { type: "file", accept: "application/json,.json", name: "key-file" });
    input.addEventListener("change", async () => {
        const file = input.files?.[0];
        if (file)
            target().value = (await file.text()).trim();
        input.value = "";
    });
    return field("Key file", input, "Read in this browser only; sent when you save.").wrap;
}
