// Notification e-mails (GET|PUT /orgs/{orgId}/notifications): who hears that a destination
// started failing or was paused, and each address's subscription status.
import { api, ApiError } from "./api.js";
import { badge, h, notice, replace, time, toast, uid } from "./dom.js";
const STATUS = {
    pending_confirmation: ["waiting for confirmation", "warn"],
    confirmed: ["confirmed", "ok"],
    unsubscribed: ["unsubscribed", "error"],
};
const MAX = 10;
export function renderNotifications(section, orgId) {
    const path = `orgs/${encodeURIComponent(orgId)}/notifications`;
    const heading = () => h("h2", { id: "notifications-title", text: "Notification e-mails" });
    replace(section, heading(), h("p", { role: "status", text: "Loading…" }));
    api("GET", path)
        .then((s) => draw(s))
        .catch((err) => replace(section, heading(), notice("error", err instanceof Error ? err.message : String(err))));
    function draw(s, flash) {
        const rows = h("div", { class: "email-rows" });
        const inputs = [];
        const errors = [];
        const addRow = (value = "") => {
            const id = uid("email");
            const input = h("input", { type: "email", id, name: "email", value, autocomplete: "off", "aria-label": `E-mail address ${inputs.length + 1}`, "aria-describedby": `${id}-error`, placeholder: "security@example.com" });
            const err = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
            const row = h("div", { class: "email-row" }, h("div", {}, input, err));
            const remove = h("button", { type: "button", class: "secondary small", "aria-label": `Remove ${value || "this address"}`, text: "Remove" });
            remove.addEventListener("click", () => {
                const i = inputs.indexOf(input);
                inputs.splice(i, 1);
                errors.splice(i, 1);
                row.remove();
                add.disabled = inputs.length >= MAX;
            });
            row.append(remove);
            inputs.push(input);
            errors.push(err);
            rows.append(row);
            add.disabled = inputs.length >= MAX;
            return input;
        };
        const add = h("button", { type: "button", class: "secondary", text: "Add address" });
        add.addEventListener("click", () => addRow().focus());
        s.emails.forEach((e) => addRow(e));
        const save = h("button", { type: "submit", class: "primary", text: "Save addresses" });
        const result = h("div");
        const form = h("form", { novalidate: true, "aria-label": "Notification e-mails" }, rows, h("div", { class: "buttons" }, add, save), result);
        form.addEventListener("submit", async (e) => {
            e.preventDefault();
            inputs.forEach((i, n) => {
                i.removeAttribute("aria-invalid");
                errors[n].hidden = true;
            });
            const emails = inputs.map((i) => i.value.trim()).filter(Boolean);
            save.disabled = true;
            try {
                const next = await api("PUT", path, { emails });
                toast("Notification addresses saved");
                draw(next, notice("ok", emails.length ? "Saved. New addresses get a confirmation e-mail; nothing is sent to them until it is confirmed." : "Saved: nobody is notified."));
            }
            catch (err) {
                save.disabled = false;
                const msg = err instanceof Error ? err.message : String(err);
                const m = err instanceof ApiError ? /^emails\[(\d+)\]$/.exec(err.field ?? "") : null;
                // The server indexes the list it got, which skips empty rows.
                const filled = inputs.filter((i) => i.value.trim());
                const target = m ? filled[Number(m[1])] : undefined;
                if (target) {
                    const n = inputs.indexOf(target);
                    target.setAttribute("aria-invalid", "true");
                    errors[n].textContent = msg;
                    errors[n].hidden = false;
                    target.focus();
                }
                replace(result, notice("error", msg));
            }
        });
        const subs = s.subscriptions.length
            ? h("div", { class: "table-wrap" }, h("table", { class: "subscriptions" }, h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Address" }), h("th", { scope: "col", text: "Subscription" }))), h("tbody", {}, s.subscriptions.map((x) => {
                const [label, kind] = STATUS[x.status] ?? [x.status, "neutral"];
                return h("tr", { "data-email": x.email }, h("td", { text: x.email }), h("td", {}, badge(label, kind)));
            }))))
            : h("p", { class: "muted", text: "Nobody is notified yet." });
        replace(section, heading(), h("p", { class: "muted", text: `Up to ${MAX} addresses are told by e-mail when one of your destinations starts failing or is paused. Each address confirms its subscription first.` }), flash ?? null, subs, s.updatedAt ? h("p", { class: "hint" }, "Last changed ", time(s.updatedAt)) : null, form);
    }
}
