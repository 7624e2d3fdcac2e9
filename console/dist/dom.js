// Small DOM helpers: element building, drawers (native modal <dialog>: focus stays inside,
// Escape closes, the page behind is inert), copy buttons, times, and announcements.
/** Creates an element: `on*` attributes are listeners, `class`/`text` shortcuts, booleans set or omit. */
export function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false)
            continue;
        if (k.startsWith("on") && typeof v === "function") {
            el.addEventListener(k.slice(2).toLowerCase(), v);
        }
        else if (k === "class") {
            el.className = String(v);
        }
        else if (k === "text") {
            el.textContent = String(v);
        }
        else if (k === "value") {
            el.value = String(v);
        }
        else if (k === "checked") {
            el.checked = Boolean(v);
        }
        else {
            el.setAttribute(k, v === true ? "" : String(v));
        }
    }
    append(el, children);
    return el;
}
function append(el, children) {
    for (const c of children) {
        if (c === null || c === undefined || c === false)
            continue;
        if (Array.isArray(c))
            append(el, c);
        else
            el.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    }
}
/** Replaces an element's children. */
export function replace(el, ...children) {
    el.replaceChildren();
    append(el, children);
}
let idCounter = 0;
/** A unique element id. */
export function uid(prefix) {
    idCounter += 1;
    return `${prefix}-${idCounter}`;
}
export function field(label, control, hint) {
    const id = control.id || uid("f");
    control.id = id;
    const hintEl = hint ? h("p", { class: "hint", id: `${id}-hint`, text: hint }) : null;
    const err = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
    const described = [hintEl ? `${id}-hint` : "", `${id}-error`].filter(Boolean).join(" ");
    control.setAttribute("aria-describedby", described);
    const wrap = h("div", { class: "field" }, h("label", { for: id, text: label }), control, hintEl, err);
    return {
        wrap,
        control,
        setError(message) {
            err.textContent = message ?? "";
            err.hidden = !message;
            if (message)
                control.setAttribute("aria-invalid", "true");
            else
                control.removeAttribute("aria-invalid");
        },
    };
}
/** Opens a drawer from the right edge. Focus returns to the opener when it closes. */
export function openDrawer(title, onClose, wide = false) {
    const opener = document.activeElement;
    const titleId = uid("drawer-title");
    const body = h("div", { class: "drawer-body" });
    const dialog = h("dialog", { class: wide ? "drawer wide" : "drawer", "aria-labelledby": titleId });
    const close = () => dialog.close();
    const header = h("header", { class: "drawer-header" }, h("h2", { id: titleId, text: title, tabindex: "-1" }), h("button", { type: "button", class: "icon", "aria-label": "Close", onclick: close }, "✕"));
    dialog.append(header, body);
    dialog.addEventListener("close", () => {
        dialog.remove();
        onClose?.();
        if (opener && document.contains(opener))
            opener.focus();
    });
    // Keep Tab inside the drawer: a modal dialog makes the page inert, but the browser would
    // still move focus past its last control to its own interface.
    dialog.addEventListener("keydown", (e) => {
        if (e.key !== "Tab")
            return;
        const focusable = Array.from(dialog.querySelectorAll("button, [href], input, select, textarea, summary, [tabindex]:not([tabindex='-1'])")).filter((el) => !el.disabled && el.offsetParent !== null);
        if (!focusable.length)
            return;
        const first = focusable[0];
        const last = focusable[focusable.length - 1];
        const active = document.activeElement;
        if (e.shiftKey && (active === first || !dialog.contains(active) || active === header.querySelector("h2"))) {
            e.preventDefault();
            last.focus();
        }
        else if (!e.shiftKey && active === last) {
            e.preventDefault();
            first.focus();
        }
    });
    // A click on the backdrop (outside the panel) closes, like Escape.
    dialog.addEventListener("click", (e) => {
        if (e.target === dialog)
            close();
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    header.querySelector("h2").focus();
    return { body, dialog, close };
}
/** Announces a short message to everyone (and screen readers), above an open drawer too. */
export function toast(message, kind = "ok") {
    const host = document.querySelector("dialog[open]") ?? document.body;
    let region = host.querySelector(":scope > .toasts");
    if (!region) {
        region = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
        host.appendChild(region);
    }
    const item = h("div", { class: `toast ${kind}`, text: message });
    region.appendChild(item);
    setTimeout(() => item.remove(), 4000);
}
/** Copies text to the clipboard (falls back to a hidden textarea where the API is missing). */
export async function copyText(text) {
    try {
        await navigator.clipboard.writeText(text);
        return true;
    }
    catch {
        const ta = h("textarea", { class: "offscreen", "aria-hidden": "true" });
        ta.value = text;
        document.body.appendChild(ta);
        ta.select();
        const ok = document.execCommand("copy");
        ta.remove();
        return ok;
    }
}
/** A button that copies `text()` and says so. */
export function copyButton(label, text, accessibleName) {
    const btn = h("button", { type: "button", class: "secondary small", "aria-label": accessibleName ?? label }, label);
    btn.addEventListener("click", async () => {
        const ok = await copyText(text());
        btn.textContent = ok ? "Copied" : "Copy failed";
        toast(ok ? "Copied to the clipboard" : "Could not copy; select the text instead", ok ? "ok" : "error");
        setTimeout(() => (btn.textContent = label), 1500);
    });
    return btn;
}
const timeFormat = new Intl.DateTimeFormat(undefined, {
    year: "numeric",
    month: "short",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
});
/** A time in the viewer's time zone, the ISO value on hover (and in `datetime`). */
export function time(iso) {
    if (!iso)
        return "—";
    const d = new Date(iso);
    if (Number.isNaN(d.getTime()))
        return iso;
    return h("time", { datetime: iso, title: iso, text: timeFormat.format(d) });
}
/** `datetime-local` value (viewer's zone) → ISO UTC, or "" when empty/invalid. */
export function localToIso(value) {
    if (!value)
        return "";
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? "" : d.toISOString();
}
/** ISO → `datetime-local` value in the viewer's zone. */
export function isoToLocal(iso) {
    if (!iso)
        return "";
    const d = new Date(iso);
    if (Number.isNaN(d.getTime()))
        return "";
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
/** An inline message box: `alert` for errors (announced at once), `status` otherwise. */
export function notice(kind, ...children) {
    return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, ...children);
}
/** A status badge. */
export function badge(text, kind) {
    return h("span", { class: `badge ${kind}`, text });
}
/** Pretty JSON. */
export function pretty(value) {
    return JSON.stringify(value, null, 2);
}
/** Replaces the URL's query (pushing a history entry unless `replaceEntry`). */
export function setParams(params, replaceEntry = false) {
    const q = params.toString();
    const url = `${location.pathname}${q ? `?${q}` : ""}`;
    if (replaceEntry)
        history.replaceState(null, "", url);
    else
        history.pushState(null, "", url);
}
const SVG_NS = "http://www.w3.org/2000/svg";
/** Creates an SVG element (attributes as given; children as for `h`). */
export function svg(tag, attrs = {}, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs))
        el.setAttribute(k, String(v));
    append(el, children);
    return el;
}
/** A duration in words: "45 s", "12 min", "3 h 5 min", "2 d 4 h". */
export function duration(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 60)
        return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60)
        return `${m} min`;
    const hours = Math.floor(m / 60);
    if (hours < 48)
        return m % 60 ? `${hours} h ${m % 60} min` : `${hours} h`;
    const d = Math.floor(hours / 24);
    return hours % 24 ? `${d} d ${hours % 24} h` : `${d} d`;
}
