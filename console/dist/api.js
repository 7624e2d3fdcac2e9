// The API client: every call goes to the service that served this page (relative URLs, so a
// stage path or a custom domain works too), with the API key from session storage as Bearer.
const TOKEN_KEY = "auditrelay.apiKey";
/** The API's root: this page is served at `{root}/console/`. */
export const API_ROOT = new URL("../", location.href);
/** An error answer of the API (`{"error","code","field"}`), or a network failure (status 0). */
export class ApiError extends Error {
    status;
    code;
    field;
    constructor(status, message, code, field) {
        super(message);
        this.status = status;
        this.code = code;
        this.field = field;
    }
}
/** The key held for this tab only (never in local storage or a cookie). */
export function token() {
    return sessionStorage.getItem(TOKEN_KEY);
}
export function setToken(value) {
    sessionStorage.setItem(TOKEN_KEY, value);
}
export function clearToken() {
    sessionStorage.removeItem(TOKEN_KEY);
}
/** Called when the key stops working (401): the app signs out. */
let onUnauthorized = () => { };
export function setUnauthorizedHandler(f) {
    onUnauthorized = f;
}
/** Calls the API; resolves with the JSON answer (undefined for 204), rejects with ApiError. */
export async function api(method, path, body) {
    const headers = { accept: "application/json" };
    const t = token();
    if (t)
        headers.authorization = `Bearer ${t}`;
    if (body !== undefined)
        headers["content-type"] = "application/json";
    let res;
    try {
        res = await fetch(new URL(path.replace(/^\//, ""), API_ROOT), {
            method,
            headers,
            body: body === undefined ? undefined : JSON.stringify(body),
            cache: "no-store",
            credentials: "omit",
        });
    }
    catch {
        throw new ApiError(0, "The service could not be reached. Check your connection and try again.");
    }
    if (res.status === 204)
        return undefined;
    const text = await res.text();
    let data = null;
    try {
        data = text ? JSON.parse(text) : null;
    }
    catch {
        data = null;
    }
    if (!res.ok) {
        if (res.status === 401)
            onUnauthorized();
        throw new ApiError(res.status, data?.error ?? `The service answered HTTP ${res.status}.`, data?.code, data?.field);
    }
    return data;
}
/** `path` with the query parameters that have a value. */
export function withQuery(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
        if (v !== undefined && v !== null && v !== "")
            q.set(k, String(v));
    }
    const s = q.toString();
    return s ? `${path}?${s}` : path;
}
/** Whether the key may read the trail (the console's one requirement). */
export function canRead(w) {
    return w.role === "owner" || w.role === "admin" || w.scopes.includes("audit:read");
}
/** Whether the key manages the org's destinations. */
export function isAdmin(w) {
    return w.role === "owner" || w.role === "admin";
}
/** The path of an org's export API. */
export function exportPath(orgId, rest = "") {
    return `orgs/${encodeURIComponent(orgId)}/audit-export${rest}`;
}
