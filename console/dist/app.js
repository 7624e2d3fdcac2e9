// Entry point: sign-in, the access check, the page frame and navigation. The view and its
// filters live in the URL (`?view=logs&action=…&q=…&event=…`), so any view can be shared.
import { api, ApiError, canRead, clearToken, isAdmin, setToken, setUnauthorizedHandler, token } from "./api.js";
import { h, notice, replace, setParams } from "./dom.js";
import { renderLogs } from "./logs.js";
import { renderExports } from "./exports.js";
const root = document.getElementById("app");
let who = null;
function signOut(message) {
    who = null;
    clearToken();
    document.querySelectorAll("dialog").forEach((d) => d.close());
    renderSignIn(message);
}
function renderSignIn(message) {
    document.title = "Sign in · AuditRelay";
    const input = h("input", {
        id: "api-key",
        name: "api-key",
        type: "password",
        autocomplete: "off",
        spellcheck: "false",
        required: true,
        "aria-describedby": "api-key-hint",
    });
    const error = h("div", { id: "sign-in-error" });
    const button = h("button", { type: "submit", class: "primary", text: "Sign in" });
    const form = h("form", { class: "card sign-in", novalidate: true }, h("h1", { text: "AuditRelay console" }), h("p", { text: "Sign in with an API key of your organization." }), h("label", { for: "api-key", text: "API key" }), input, h("p", {
        class: "hint",
        id: "api-key-hint",
        text: "An owner or admin key, or a key with the audit:read scope. It is kept in this tab only and forgotten when you close it.",
    }), error, button);
    if (message)
        error.append(notice("info", message));
    form.addEventListener("submit", async (e) => {
        e.preventDefault();
        const value = input.value.trim();
        if (!value) {
            replace(error, notice("error", "Enter an API key."));
            input.focus();
            return;
        }
        button.disabled = true;
        setToken(value);
        try {
            await start();
        }
        catch (err) {
            clearToken();
            const msg = err instanceof ApiError && err.status === 401
                ? "This key is not valid (revoked, mistyped, or from another deployment)."
                : err instanceof Error
                    ? err.message
                    : String(err);
            replace(error, notice("error", msg));
            button.disabled = false;
            input.focus();
        }
    });
    replace(root, h("main", { id: "main", class: "center" }, form));
    input.focus();
}
function renderNoAccess(who) {
    document.title = "No access · AuditRelay";
    replace(root, h("main", { id: "main", class: "center" }, h("section", { class: "card no-access", "aria-labelledby": "no-access-title" }, h("h1", { id: "no-access-title", text: "No access" }), h("p", {
        text: `This key (${who.key_id}, role ${who.role}) cannot read your organization's audit log.`,
    }), h("p", { text: "Audit Logs are for organization admins: sign in with an owner or admin key, or a key with the audit:read scope." }), h("button", { type: "button", class: "primary", onclick: () => signOut() }, "Sign out"))));
    root.querySelector("h1").setAttribute("tabindex", "-1");
    root.querySelector("h1").focus();
}
function currentView() {
    const v = new URLSearchParams(location.search).get("view");
    return v === "exports" && who && isAdmin(who) ? "exports" : "logs";
}
/** Renders the frame and the view the URL names. */
function renderApp() {
    if (!who)
        return;
    const w = who;
    const view = currentView();
    const navLink = (name, label) => h("a", {
        href: name === "logs" ? "./" : "./?view=exports",
        "aria-current": view === name ? "page" : undefined,
        onclick: (e) => {
            if (e.ctrlKey || e.metaKey || e.shiftKey)
                return;
            e.preventDefault();
            setParams(new URLSearchParams(name === "logs" ? "" : "view=exports"));
            renderApp();
        },
    }, label);
    const main = h("main", { id: "main", tabindex: "-1" });
    replace(root, h("header", { class: "topbar" }, h("span", { class: "brand", text: "AuditRelay" }), h("nav", { "aria-label": "Organization" }, navLink("logs", "Audit Logs"), isAdmin(w) ? navLink("exports", "Export settings") : null), h("div", { class: "who" }, h("span", { title: `key ${w.key_id}`, text: `${w.org_id} · ${w.role}` }), 
    // Relative, like every API call of the page: it also works under an API Gateway stage.
    h("a", { href: "../openapi.json", title: "The API's OpenAPI 3.1 document", text: "API reference" }), h("button", { type: "button", class: "secondary small", onclick: () => signOut() }, "Sign out"))), main);
    if (view === "exports")
        renderExports(main, w);
    else
        renderLogs(main, w);
}
async function start() {
    who = null;
    who = await api("GET", "v1/whoami");
    if (!canRead(who)) {
        clearToken();
        renderNoAccess(who);
        return;
    }
    renderApp();
}
setUnauthorizedHandler(() => {
    if (who) {
        who = null;
        signOut("Your key is no longer valid. Sign in again.");
    }
});
window.addEventListener("popstate", () => {
    document.querySelectorAll("dialog").forEach((d) => d.close());
    renderApp();
});
if (token()) {
    start().catch((err) => {
        clearToken();
        renderSignIn(err instanceof Error ? err.message : String(err));
    });
}
else {
    renderSignIn();
}
