// End-to-end tests of the admin console in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core), against `auditctl serve` on the moto server that
// scripts/with-moto.sh started (AWS_ENDPOINT_URL). Run by `make e2e-test` (part of `make test`).
//
// Setup: `auditctl provision`, an org with an owner, a service, a member and a reader key,
// 60 events ingested through the API, a local receiver for webhooks and OTLP, and `auditctl
// serve` on a free port with AUDITRELAY_ALLOW_PRIVATE_DESTINATIONS=1. Screenshots of the main
// views go to target/screenshots/ (SCREENSHOTS_DIR); `make screenshots` refreshes docs/screenshots/.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdirSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const auditctl = process.env.AUDITCTL ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(repo, "target"), "debug", "auditctl");
const python = process.env.AUDITRELAY_TEST_PYTHON ?? path.join(repo, ".venv", "bin", "python");
const shots = process.env.SCREENSHOTS_DIR ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(repo, "target"), "screenshots");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

assert.ok(process.env.AWS_ENDPOINT_URL, "run under scripts/with-moto.sh (make e2e-test)");

const env = { ...process.env, AUDITRELAY_ALLOW_PRIVATE_DESTINATIONS: "1", RUST_LOG: process.env.RUST_LOG ?? "warn" };

function ctl(...args) {
  const r = spawnSync(auditctl, args, { env, encoding: "utf8" });
  assert.equal(r.status, 0, `auditctl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim() ? JSON.parse(r.stdout) : null;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

async function waitFor(fn, what, ms = 20000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** A receiver on loopback: `/hook` (webhooks) and `/otlp/v1/logs` (OTLP), recording requests. */
function startReceiver() {
  const requests = [];
  const replies = { otlp: 200, hook: 200 };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      requests.push({ path: req.url, headers: req.headers, body });
      const status = req.url.startsWith("/otlp") ? replies.otlp : replies.hook;
      res.writeHead(status, { "content-type": "application/json" });
      res.end(status < 300 ? "{}" : '{"error":"receiver is down for the test"}');
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve({ server, requests, replies, port: server.address().port }));
  });
}

// 60 events over the last three days: four actions, three actors, some failures, and payload
// text to search for.
function corpus(now) {
  const actions = ["document.opened", "user.login", "user.role_changed", "settings.updated"];
  const actors = [
    { user_id: "usr_jane", email: "jane@example.com", ip_address: "203.0.113.42", type: "user" },
    { user_id: "usr_omar", email: "omar@example.com", ip_address: "198.51.100.7", type: "user" },
    { user_id: "svc_sync", type: "service_account" },
  ];
  return Array.from({ length: 60 }, (_, i) => {
    const ts = new Date(now - (i + 1) * 70 * 60 * 1000); // every 70 minutes back
    const e = {
      event_id: `evt_e2e_${String(i).padStart(3, "0")}`,
      timestamp: ts.toISOString().replace(/\.\d{3}Z$/, "Z"),
      action: actions[i % 4],
      actor: actors[i % 3],
      success: i % 7 !== 3,
      request_id: `req_${i}`,
      metadata: { via: i % 2 ? "web" : "api", note: `entry ${i}` },
    };
    if (i % 4 === 0) e.resource = { type: "document", id: `doc_${i}`, name: i === 8 ? "Contract_v2.docx" : `Report_${i}.pdf` };
    if (i % 4 === 2) e.metadata.role = { from: "member", to: "admin" };
    return e;
  });
}

let base, org, keys, serve, receiver, browser, events;
const external = [];
const pageErrors = [];

before(async () => {
  mkdirSync(shots, { recursive: true });
  ctl("provision");
  org = ctl("org", "create", "--name", "Acme Corp", "--tenant-id", "ten_01ABCDEFG");
  const key = (...a) => ctl("key", "create", "--org", org.org_id, ...a).token;
  keys = {
    owner: key("--role", "owner", "--name", "e2e-owner"),
    writer: key("--role", "service", "--name", "e2e-backend"),
    member: key("--role", "member", "--name", "e2e-member"),
    reader: key("--role", "member", "--scope", "audit:read", "--name", "e2e-reader"),
  };
  receiver = await startReceiver();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  serve = spawn(auditctl, ["serve", "--addr", `127.0.0.1:${port}`, "--flush-interval", "0"], { env, stdio: ["ignore", "inherit", "inherit"] });
  await waitFor(async () => (await fetch(`${base}/console/`)).ok, "auditctl serve");

  events = corpus(Date.now());
  const r = await fetch(`${base}/v1/audit/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${keys.writer}`, "content-type": "application/json" },
    body: JSON.stringify({ events }),
  });
  assert.equal(r.status, 202, await r.text());

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in a container, no GPU, and a machine whose only network is loopback.
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  if (serve && serve.exitCode === null) {
    serve.kill("SIGINT");
    await Promise.race([new Promise((r) => serve.once("exit", r)), new Promise((r) => setTimeout(r, 5000))]);
    if (serve.exitCode === null) serve.kill("SIGKILL");
  }
  receiver?.server.close();
});

/** A new tab (its own session storage) at a laptop's size, watching for requests elsewhere. */
async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, timezoneId: "Europe/Berlin", locale: "en-GB" });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  const page = await context.newPage();
  page.on("request", (req) => {
    const u = req.url();
    if (!u.startsWith(base) && !u.startsWith("data:")) external.push(u);
  });
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error" && /Content.Security.Policy|Refused to/i.test(m.text())) pageErrors.push(m.text());
  });
  return page;
}

async function signIn(page, token, url = `${base}/console`) {
  await page.goto(url);
  await page.getByLabel("API key").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
}

const rows = (page) => page.locator("table.logs tbody tr");
const shot = (page, name, fullPage = false) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage });

async function ownerPage() {
  const page = await newPage();
  await signIn(page, keys.owner);
  await page.getByRole("heading", { name: "Audit Logs" }).waitFor();
  await waitFor(async () => (await rows(page).count()) > 0, "log rows");
  return page;
}

describe("admin console", () => {
  test("the console is served by the API with a strict CSP, cache validators and no other origin", async () => {
    const redirect = await fetch(`${base}/console?action=user.login`, { redirect: "manual" });
    assert.equal(redirect.status, 308);
    assert.equal(redirect.headers.get("location"), "console/?action=user.login");
    const index = await fetch(`${base}/console/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get("content-type"), /^text\/html/);
    const csp = index.headers.get("content-security-policy");
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /https?:|unsafe-inline|unsafe-eval/);
    const js = await fetch(`${base}/console/app.js`);
    assert.match(js.headers.get("content-type"), /^text\/javascript/);
    const etag = js.headers.get("etag");
    assert.ok(etag);
    assert.equal(js.headers.get("cache-control"), "no-cache");
    const again = await fetch(`${base}/console/app.js`, { headers: { "if-none-match": etag } });
    assert.equal(again.status, 304);
    assert.equal((await fetch(`${base}/console/nope.js`)).status, 404);
  });

  test("a key without admin role or audit:read sees only a no-access page", async () => {
    const page = await newPage();
    await signIn(page, keys.member);
    await page.getByRole("heading", { name: "No access" }).waitFor();
    assert.equal(await page.locator("table").count(), 0);
    assert.equal(await page.getByRole("navigation").count(), 0);
    await shot(page, "no-access");
    // A wrong key is refused on the sign-in form.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("API key").fill("ar_not-a-real-key");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("This key is not valid").waitFor();
    await page.context().close();
  });

  test("a reader key sees the Audit Logs but not the export settings", async () => {
    const page = await newPage();
    await signIn(page, keys.reader);
    await page.getByRole("heading", { name: "Audit Logs" }).waitFor();
    await waitFor(async () => (await rows(page).count()) > 0, "rows");
    assert.equal(await page.getByRole("link", { name: "Export settings" }).count(), 0);
    assert.equal(await page.getByRole("button", { name: "Configure OTEL Export" }).count(), 0);
    // The key lives in session storage only.
    const stored = await page.evaluate(() => [sessionStorage.length, localStorage.length, document.cookie]);
    assert.deepEqual(stored, [1, 0, ""]);
    await page.context().close();
  });

  test("Audit Logs: newest first, local times with ISO on hover, load more", async () => {
    const page = await ownerPage();
    assert.equal(await rows(page).count(), 50);
    const first = rows(page).nth(0);
    assert.equal(await first.getAttribute("data-event-id"), "evt_e2e_000");
    const t = first.locator("time");
    assert.equal(await t.getAttribute("title"), events[0].timestamp);
    assert.equal(await t.getAttribute("datetime"), events[0].timestamp);
    assert.match(await first.textContent(), /jane@example\.com/);
    assert.match(await page.locator("p.status").textContent(), /50 entries \(more available\)/);
    await shot(page, "audit-logs");
    await page.getByRole("button", { name: "Load more" }).click();
    await waitFor(async () => (await rows(page).count()) === 60, "60 rows");
    assert.equal(await page.getByRole("button", { name: "Load more" }).isHidden(), true);
    const ids = await rows(page).evaluateAll((trs) => trs.map((tr) => tr.dataset.eventId));
    assert.deepEqual(ids, events.map((e) => e.event_id));
    await page.context().close();
  });

  test("filters: event type (from the org's actions), actor, time range; the URL can be shared", async () => {
    const page = await ownerPage();
    const options = await page.getByLabel("Event type").locator("option").allTextContents();
    assert.deepEqual(options, ["All event types", "document.opened", "settings.updated", "user.login", "user.role_changed"]);
    await page.getByLabel("Event type").selectOption("user.login");
    await waitFor(async () => (await rows(page).count()) === 15 && new URL(page.url()).searchParams.get("action") === "user.login", "user.login rows");
    const actions = await rows(page).locator("td:nth-child(2)").allTextContents();
    assert.ok(actions.every((a) => a === "user.login"), actions.join());

    await page.getByLabel("Actor (user id)").fill("usr_omar");
    await page.getByRole("button", { name: "Apply" }).click();
    const expected = events.filter((e) => e.action === "user.login" && e.actor.user_id === "usr_omar").map((e) => e.event_id);
    await waitFor(async () => (await rows(page).count()) === expected.length && new URL(page.url()).searchParams.get("actor") === "usr_omar", "actor rows");

    // Time range: the five hours after the 10th event (in the viewer's zone, Berlin).
    await page.getByRole("button", { name: "Reset" }).click();
    await waitFor(async () => (await rows(page).count()) === 50, "reset");
    const from = new Date(events[10].timestamp);
    const to = new Date(from.getTime() + 5 * 3600 * 1000);
    const local = (d) => new Intl.DateTimeFormat("sv-SE", { timeZone: "Europe/Berlin", dateStyle: "short", timeStyle: "short" }).format(d).replace(" ", "T");
    await page.getByLabel("From", { exact: true }).fill(local(from));
    await page.getByLabel("To", { exact: true }).fill(local(to));
    await page.getByRole("button", { name: "Apply" }).click();
    const inRange = events.filter((e) => {
      const t = new Date(e.timestamp).getTime();
      return t >= Math.floor(from.getTime() / 60000) * 60000 && t < Math.floor(to.getTime() / 60000) * 60000;
    });
    await waitFor(async () => (await rows(page).count()) === inRange.length && page.url().includes("from="), "time-range rows");
    assert.deepEqual(await rows(page).evaluateAll((trs) => trs.map((tr) => tr.dataset.eventId)), inRange.map((e) => e.event_id));

    // A filtered view is a link: a new tab (no key yet) lands on it after signing in.
    await page.getByLabel("Event type").selectOption("document.opened");
    await waitFor(async () => new URL(page.url()).searchParams.get("action") === "document.opened", "url");
    const shared = page.url();
    const other = await newPage();
    await signIn(other, keys.owner, shared);
    const docs = events.filter((e) => e.action === "document.opened" && inRange.includes(e)).length;
    await waitFor(async () => (await rows(other).count()) === docs && (await other.getByLabel("Event type").inputValue()) === "document.opened", "shared view");
    await other.context().close();
    await page.context().close();
  });

  test("search over the payload (q), case variants included", async () => {
    const page = await ownerPage();
    await page.getByLabel("Search").fill("contract_v2");
    await page.getByLabel("Search").press("Enter");
    await waitFor(async () => (await rows(page).count()) === 1 && page.url().includes("q=contract_v2"), "one match");
    assert.equal(await rows(page).nth(0).getAttribute("data-event-id"), "evt_e2e_008");
    await shot(page, "search");
    // Text inside metadata, nested.
    await page.getByLabel("Search").fill("\"to\":\"admin\"");
    await page.getByRole("button", { name: "Apply" }).click();
    const expected = events.filter((e) => e.metadata.role).length;
    await waitFor(async () => (await rows(page).count()) === expected, "metadata matches");
    await page.getByLabel("Search").fill("no-such-text-anywhere");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.getByText("No entries match these filters.").waitFor();
    await page.context().close();
  });

  test("details drawer: full event JSON, copy, keyboard, focus returns, state in the URL", async () => {
    const page = await ownerPage();
    const button = rows(page).nth(8).getByRole("button");
    await button.focus();
    await page.keyboard.press("Enter");
    const drawer = page.getByRole("dialog", { name: "Event details" });
    await drawer.waitFor();
    assert.equal(new URL(page.url()).searchParams.get("event"), "evt_e2e_008");
    const json = JSON.parse(await drawer.locator("pre.json").textContent());
    assert.equal(json.event_id, "evt_e2e_008");
    assert.equal(json.resource.name, "Contract_v2.docx");
    assert.equal(json.tenant_id, "ten_01ABCDEFG");
    assert.ok(json.received_at);
    // Focus is inside the drawer; Tab stays inside it (modal).
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press("Tab");
      assert.ok(await drawer.evaluate((d) => d.contains(document.activeElement)), "focus left the drawer");
    }
    await drawer.getByRole("button", { name: "Copy the event JSON" }).click();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(JSON.parse(copied).event_id, "evt_e2e_008");
    await shot(page, "event-drawer");
    await page.keyboard.press("Escape");
    await drawer.waitFor({ state: "detached" });
    // The URL is updated after the drawer leaves the DOM; CI once read it in between.
    await page.waitForFunction(() => !new URL(location.href).searchParams.has("event"));
    assert.equal(new URL(page.url()).searchParams.get("event"), null);
    assert.ok(await button.evaluate((b) => b === document.activeElement), "focus returned to the row");
    // A link to an event opens its drawer.
    await page.goto(`${base}/console/?event=evt_e2e_003`);
    const d2 = page.getByRole("dialog", { name: "Event details" });
    await d2.waitFor();
    await waitFor(async () => (await d2.locator("pre.json").textContent()).includes("evt_e2e_003"), "linked event");
    await page.context().close();
  });

  test("details drawer: the entry's OCSF record on demand, an error line when it cannot be read", async (t) => {
    const page = await ownerPage();
    const probe = await page.evaluate(async () => {
      const r = await fetch("../v1/audit/logs/evt_e2e_008?schema=ocsf", { headers: { authorization: `Bearer ${sessionStorage.getItem("auditrelay.apiKey")}` } });
      return { status: r.status, body: await r.json().catch(() => null) };
    });
    const served = probe.status === 200 && probe.body && typeof probe.body.class_uid === "number";
    // The failure path first, whatever this build serves: the call is made to fail.
    await page.route(/\/v1\/audit\/logs\/evt_e2e_008\?schema=ocsf$/, (route) =>
      route.fulfill({ status: 500, contentType: "application/json", body: JSON.stringify({ error: "internal error", code: "internal" }) }),
    );
    const entry = page.locator('tr[data-event-id="evt_e2e_008"]').getByRole("button");
    await entry.click();
    let drawer = page.getByRole("dialog", { name: "Event details" });
    await drawer.waitFor();
    const toggle = drawer.getByRole("button", { name: "Show OCSF record" });
    await toggle.click();
    await drawer.getByText(/The OCSF record could not be loaded/).waitFor();
    assert.equal(await drawer.getByRole("button", { name: "Hide OCSF record" }).getAttribute("aria-expanded"), "true");
    // The canonical JSON is still there.
    assert.equal(JSON.parse(await drawer.locator("pre.json").first().textContent()).event_id, "evt_e2e_008");
    await page.keyboard.press("Escape");
    await drawer.waitFor({ state: "detached" });
    await page.unroute(/\/v1\/audit\/logs\/evt_e2e_008\?schema=ocsf$/);
    if (!served) {
      t.skip("this build does not serve GET /v1/audit/logs/{id}?schema=ocsf yet: merge it to check the record");
      await page.context().close();
      return;
    }
    await entry.click();
    drawer = page.getByRole("dialog", { name: "Event details" });
    await drawer.waitFor();
    await drawer.getByRole("button", { name: "Show OCSF record" }).click();
    const record = drawer.getByRole("region", { name: "OCSF record" }).locator("pre.json");
    await record.waitFor();
    const ocsf = JSON.parse(await record.textContent());
    assert.deepEqual(ocsf, probe.body);
    await shot(page, "event-drawer-ocsf");
    await page.context().close();
  });

  test("OTEL export drawer: batch size validated in the form and by the server, most recent error inline", async (t) => {
    const page = await ownerPage();
    const probe = await page.evaluate(async ([org]) => {
      const r = await fetch(`../orgs/${org}/audit-export/otel`, { headers: { authorization: `Bearer ${sessionStorage.getItem("auditrelay.apiKey")}` } });
      return { status: r.status, body: await r.text() };
    }, [org.org_id]);
    if (probe.status === 404 && /route/.test(probe.body)) {
      t.skip("this build has no OTEL API yet: merge it to run this test");
      await page.context().close();
      return;
    }
    await page.getByRole("button", { name: "Configure OTEL Export" }).click();
    const drawer = page.getByRole("dialog", { name: "Configure OTEL Export" });
    await drawer.getByLabel("Endpoint URL").waitFor();
    await drawer.getByLabel("Endpoint URL").fill(`http://127.0.0.1:${receiver.port}/otlp`);
    await drawer.getByRole("button", { name: "Add header" }).click();
    await drawer.getByLabel("Header name").fill("Authorization");
    await drawer.getByLabel("Header value").fill("Bearer collector-token-1234567890");
    // Out of range: refused by the form, nothing sent.
    for (const bad of ["0", "1001", "2.5"]) {
      await drawer.getByLabel("Max batch size").fill(bad);
      await drawer.getByRole("button", { name: "Save" }).click();
      await drawer.getByText(/Max batch size must be/).waitFor();
      assert.equal(await drawer.getByLabel("Max batch size").getAttribute("aria-invalid"), "true");
    }
    await shot(page, "otel-drawer-invalid");
    // And by the server.
    const server = await page.evaluate(async ([org, port]) => {
      const r = await fetch(`../orgs/${org}/audit-export/otel`, {
        method: "POST",
        headers: { authorization: `Bearer ${sessionStorage.getItem("auditrelay.apiKey")}`, "content-type": "application/json" },
        body: JSON.stringify({ endpointUrl: `http://127.0.0.1:${port}/otlp`, maxBatchSize: 5000 }),
      });
      return { status: r.status, body: await r.json() };
    }, [org.org_id, receiver.port]);
    assert.equal(server.status, 400);
    assert.equal(server.body.field, "maxBatchSize");
    // A good one is saved; the header value comes back masked.
    await drawer.getByLabel("Max batch size").fill("250");
    await drawer.getByRole("button", { name: "Save" }).click();
    await drawer.getByText("Saved.").waitFor();
    assert.equal(await drawer.getByLabel("Max batch size").inputValue(), "250");
    assert.match(await drawer.getByLabel("Header value").inputValue(), /^\*\*\*\*/);
    // The receiver fails: the test's error is shown at the top of the drawer.
    receiver.replies.otlp = 500;
    await drawer.getByRole("button", { name: "Send test record" }).click();
    await drawer.getByText("Most recent export error").waitFor();
    const top = await drawer.locator(".otel-top").textContent();
    assert.match(top, /500/);
    await shot(page, "otel-drawer-error");
    receiver.replies.otlp = 200;
    await drawer.getByRole("button", { name: "Send test record" }).click();
    await drawer.getByText(/Test record accepted: HTTP 200/).waitFor();
    const otlp = receiver.requests.filter((r) => r.path === "/otlp/v1/logs");
    assert.ok(otlp.length >= 2, "the receiver got the test records");
    assert.equal(otlp.at(-1).headers.authorization, "Bearer collector-token-1234567890", "the stored header value was kept");
    await page.keyboard.press("Escape");
    await page.context().close();
  });

  test("export settings: a webhook is created (secret once), tested, and its attempts listed", async () => {
    const page = await ownerPage();
    await page.getByRole("link", { name: "Export settings" }).click();
    await page.getByRole("heading", { name: "Webhooks (SIEM)" }).waitFor();
    assert.equal(new URL(page.url()).searchParams.get("view"), "exports");
    const form = page.getByRole("form", { name: "New webhook endpoint" });
    await form.getByLabel("Endpoint URL").fill(`http://127.0.0.1:${receiver.port}/hook`);
    await form.getByLabel("Description").fill("SIEM (e2e)");
    await form.getByRole("button", { name: "Add endpoint" }).click();
    const secret = (await page.locator("code.secret", { hasText: "whsec_" }).textContent()).trim();
    assert.match(secret, /^whsec_/);
    const item = page.locator("li.endpoint").first();
    assert.match(await item.textContent(), /whsec_\*\*\*\*/, "the list shows the secret masked");
    const before = receiver.requests.filter((r) => r.path === "/hook").length;
    await item.getByRole("button", { name: /^Send test/ }).click();
    await item.getByText(/Test delivered: HTTP 200/).waitFor();
    const hooks = receiver.requests.filter((r) => r.path === "/hook");
    assert.equal(hooks.length, before + 1);
    // The delivery is signed with the secret the page showed once (Standard Webhooks).
    const h = hooks.at(-1).headers;
    const key = Buffer.from(secret.slice("whsec_".length), "base64");
    const expected = createHmac("sha256", key).update(`${h["webhook-id"]}.${h["webhook-timestamp"]}.${hooks.at(-1).body}`).digest("base64");
    assert.ok(h["webhook-signature"].split(" ").includes(`v1,${expected}`));
    assert.equal(JSON.parse(hooks.at(-1).body).action, "webhook.test");
    await shot(page, "export-settings", true);
    await item.getByRole("button", { name: /^Attempts/ }).click();
    const drawer = page.getByRole("dialog", { name: "Delivery attempts" });
    await drawer.getByText("delivered").first().waitFor();
    assert.match(await drawer.locator("tbody").textContent(), /test/);
    await shot(page, "webhook-attempts");
    await page.keyboard.press("Escape");
    // Disable, then enable again.
    await item.getByRole("button", { name: /^Disable/ }).click();
    await page.locator("li.endpoint").first().getByText("disabled", { exact: true }).waitFor();
    await page.locator("li.endpoint").first().getByRole("button", { name: /^Enable/ }).click();
    await page.locator("li.endpoint").first().getByText("active", { exact: true }).waitFor();
    // Rotation shows the new secret once.
    page.once("dialog", (d) => d.accept());
    await page.locator("li.endpoint").first().getByRole("button", { name: /^Rotate secret/ }).click();
    const rotated = (await page.locator("code.secret", { hasText: "whsec_" }).textContent()).trim();
    assert.notEqual(rotated, secret);
    await page.context().close();
  });

  test("export settings: S3 test connection, save, ExternalId and trust policy to copy", async () => {
    const made = spawnSync(python, ["-c", `import boto3; boto3.client('s3', endpoint_url='${process.env.AWS_ENDPOINT_URL}', region_name='us-east-1').create_bucket(Bucket='acme-audit-e2e')`], { encoding: "utf8" });
    assert.equal(made.status, 0, made.stderr);
    const page = await ownerPage();
    await page.goto(`${base}/console/?view=exports`);
    const form = page.getByRole("form", { name: "S3 destination" });
    await form.getByLabel("Bucket").fill("no-such-bucket-e2e");
    await form.getByLabel("Region", { exact: true }).fill("us-east-1");
    await form.getByLabel("Role ARN").fill("arn:aws:iam::123456789012:role/AuditRelayExport");
    await form.getByRole("button", { name: "Test connection" }).click();
    await form.getByText(/Connection failed/).waitFor();
    await form.getByLabel("Bucket").fill("acme-audit-e2e");
    await form.getByRole("button", { name: "Test connection" }).click();
    await form.getByText(/Connection works/).waitFor();
    await form.getByRole("button", { name: "Save" }).click();
    await page.getByText("enabled", { exact: true }).first().waitFor();
    const ext = (await page.locator("details.grant code.secret").textContent()).trim();
    assert.match(ext, /^ar-/);
    await page.locator("details.grant summary").click();
    await page.getByRole("button", { name: "Copy the trust policy" }).click();
    const trust = JSON.parse(await page.evaluate(() => navigator.clipboard.readText()));
    assert.equal(trust.Statement[0].Condition.StringEquals["sts:ExternalId"], ext);
    await shot(page, "s3-settings");
    await page.context().close();
  });

  test("continuous export: schema and format offer only allowed pairs, saved and shown after a reload", async () => {
    const page = await ownerPage();
    await page.goto(`${base}/console/?view=exports`);
    let form = page.getByRole("form", { name: "S3 destination" });
    const schema = form.getByLabel("Schema");
    const format = form.getByLabel("Format");
    await schema.waitFor();
    const offered = () => format.evaluate((s) => Array.from(s.options).filter((o) => !o.disabled).map((o) => o.value));
    // Canonical and OCSF events are nested: JSONL only, and the form says why.
    await schema.selectOption("canonical");
    assert.deepEqual(await offered(), ["jsonl", "jsonl.gz"]);
    assert.match(await form.getByText(/need the columnar schema/).textContent(), /JSONL only/);
    await schema.selectOption("ocsf");
    assert.deepEqual(await offered(), ["jsonl", "jsonl.gz"]);
    assert.equal(await format.locator('option[value="parquet"]').evaluate((o) => o.disabled), true);
    // Columnar fits every format.
    await schema.selectOption("columnar");
    assert.deepEqual((await offered()).sort(), ["csv", "csv.gz", "jsonl", "jsonl.gz", "parquet"]);
    await format.selectOption("parquet");
    // Back to a nested schema: the format falls back to an allowed one.
    await schema.selectOption("canonical");
    assert.equal(await format.inputValue(), "jsonl");
    await schema.selectOption("columnar");
    await format.selectOption("parquet");
    await form.getByLabel("Destination type").selectOption("s3");
    await form.getByLabel("Access", { exact: true }).selectOption("role");
    await form.getByLabel("Bucket").fill("acme-audit-e2e");
    await form.getByLabel("Region", { exact: true }).fill("us-east-1");
    await form.getByLabel("Role ARN").fill("arn:aws:iam::123456789012:role/AuditRelayExport");
    await form.getByRole("button", { name: "Save" }).click();
    await page.getByText("Continuous export saved").waitFor();
    const stored = await page.evaluate(async ([o]) => {
      const r = await fetch(`../orgs/${o}/audit-export/config`, { headers: { authorization: `Bearer ${sessionStorage.getItem("auditrelay.apiKey")}` } });
      return r.json();
    }, [org.org_id]);
    assert.equal(stored.schema, "columnar");
    assert.equal(stored.format, "parquet");
    await page.reload();
    form = page.getByRole("form", { name: "S3 destination" });
    await form.getByLabel("Schema").waitFor();
    assert.equal(await form.getByLabel("Schema").inputValue(), "columnar");
    assert.equal(await form.getByLabel("Format").inputValue(), "parquet");
    assert.equal((await page.locator(".saved-shape").textContent()).trim(), "columnar schema, parquet");
    await shot(page, "export-schema-format");
    await page.context().close();
  });

  test("export jobs: the form offers the file table's pairs and queues a job in the chosen schema and format", async () => {
    const page = await ownerPage();
    await page.goto(`${base}/console/?view=exports`);
    const form = page.getByRole("form", { name: "Export job" });
    const schema = form.getByLabel("Schema");
    const format = form.getByLabel("Format");
    await schema.waitFor();
    const offered = () => format.evaluate((s) => Array.from(s.options).filter((o) => !o.disabled).map((o) => o.value));
    await schema.selectOption("ocsf");
    assert.deepEqual(await offered(), ["jsonl", "jsonl.gz"]);
    await schema.selectOption("columnar");
    assert.deepEqual((await offered()).sort(), ["csv", "csv.gz", "jsonl", "jsonl.gz", "parquet"]);
    await format.selectOption("parquet");
    await form.getByRole("button", { name: "Start export" }).click();
    const queued = (await form.getByText(/^Export exp_\w+ queued\.$/).textContent()).trim();
    const id = queued.split(" ")[1];
    const job = await page.evaluate(async ([i]) => {
      const r = await fetch(`../v1/audit/exports/${i}`, { headers: { authorization: `Bearer ${sessionStorage.getItem("auditrelay.apiKey")}` } });
      return r.json();
    }, [id]);
    assert.equal(job.schema, "columnar");
    assert.equal(job.format, "parquet");
    await page.locator("section[aria-labelledby='jobs-title'] li", { hasText: "columnar parquet" }).first().waitFor();
    await page.context().close();
  });

  test("stored credentials: created write-only, used by an S3-compatible destination, refused deletion while in use", async () => {
    const page = await ownerPage();
    await page.goto(`${base}/console/?view=exports`);
    const credForm = page.getByRole("form", { name: "New credential" });
    await credForm.getByLabel("Name", { exact: true }).fill("minio-e2e");
    await credForm.getByLabel("Type", { exact: true }).selectOption("s3_access_key");
    const secretInput = credForm.getByLabel("Secret access key");
    assert.equal(await secretInput.getAttribute("type"), "password");
    assert.equal(await credForm.getByLabel("Access key ID").getAttribute("type"), "password");
    await credForm.getByLabel("Access key ID").fill("AKIAE2EEXAMPLE9876");
    await secretInput.fill("e2e-secret-value-wJalrXUtnFEMIabcd");
    await credForm.getByRole("button", { name: "Save credential" }).click();
    const row = page.locator('tr[data-credential="minio-e2e"]');
    await row.waitFor();
    assert.match(await row.textContent(), /\*\*\*\*abcd/);
    assert.match(await row.textContent(), /\*\*\*\*9876/);
    // Nowhere on the page after saving: not in the text, not in an input's value.
    const values = await page.evaluate(() => [document.body.innerText, ...Array.from(document.querySelectorAll("input")).map((i) => i.value)].join("\n"));
    assert.ok(!values.includes("e2e-secret-value"), "the secret is shown after saving");
    assert.ok(!values.includes("AKIAE2EEXAMPLE9876"), "the access key id is shown after saving");

    // An S3-compatible destination signing with it: only its fields are shown.
    const form = page.getByRole("form", { name: "S3 destination" });
    await form.getByLabel("Destination type").selectOption("s3_compatible");
    assert.equal(await form.getByLabel("Role ARN").isHidden(), true);
    assert.equal(await form.getByLabel("Access", { exact: true }).isHidden(), true);
    await form.getByLabel("Endpoint URL").fill("http://127.0.0.1:9");
    await form.getByLabel("Bucket").fill("audit-compat");
    await form.getByLabel("Credential").selectOption("minio-e2e");
    await shot(page, "s3-compatible-form");
    // Nothing listens on that port: the test fails, and says why.
    await form.getByRole("button", { name: "Test connection" }).click();
    await form.getByText(/Connection failed/).waitFor({ timeout: 60000 });
    await form.getByRole("button", { name: "Save" }).click();
    await waitFor(async () => (await page.getByRole("form", { name: "S3 destination" }).getByLabel("Credential").inputValue()) === "minio-e2e", "saved S3-compatible destination");
    assert.equal(await page.getByRole("form", { name: "S3 destination" }).getByLabel("Destination type").inputValue(), "s3_compatible");
    assert.equal(await page.getByRole("form", { name: "S3 destination" }).getByLabel("Endpoint URL").inputValue(), "http://127.0.0.1:9");
    // In use: the API's 409 is shown beside it.
    page.once("dialog", (d) => d.accept());
    await page.getByRole("button", { name: "Delete minio-e2e" }).click();
    await page.locator('tr[data-credential="minio-e2e"]').getByText(/Not deleted/).waitFor();
    // Rotation keeps the name and type and asks for new secrets, empty.
    await page.getByRole("button", { name: "Rotate minio-e2e" }).click();
    const rot = page.getByRole("form", { name: "Rotate credential minio-e2e" });
    assert.equal(await rot.getByLabel("Secret access key").inputValue(), "");
    await rot.getByLabel("Access key ID").fill("AKIAE2EEXAMPLE5555");
    await rot.getByLabel("Secret access key").fill("e2e-rotated-value-zzzz");
    await rot.getByRole("button", { name: "Rotate credential" }).click();
    await waitFor(async () => /\*\*\*\*zzzz/.test(await page.locator('tr[data-credential="minio-e2e"]').textContent()), "rotated credential");
    await shot(page, "credentials");
    await page.context().close();
  });

  test("bucket policy: the ownership token read from the verification file makes the export active", async () => {
    const bucket = "acme-verify-e2e";
    const made = spawnSync(python, ["-c", `import boto3; boto3.client('s3', endpoint_url='${process.env.AWS_ENDPOINT_URL}', region_name='us-east-1').create_bucket(Bucket='${bucket}')`], { encoding: "utf8" });
    assert.equal(made.status, 0, made.stderr);
    const page = await ownerPage();
    await page.goto(`${base}/console/?view=exports`);
    const form = page.getByRole("form", { name: "S3 destination" });
    await form.getByLabel("Destination type").selectOption("s3");
    await form.getByLabel("Access", { exact: true }).selectOption("bucket_policy");
    assert.equal(await form.getByLabel("Role ARN").isHidden(), true);
    await form.getByLabel("Bucket").fill(bucket);
    await form.getByLabel("Region", { exact: true }).fill("us-east-1");
    await form.getByRole("button", { name: "Save" }).click();
    const step = page.getByRole("region", { name: "Prove you own the bucket" });
    await step.waitFor();
    await page.getByText("waiting for verification", { exact: true }).first().waitFor();
    const policy = JSON.parse(await step.getByLabel("Bucket policy", { exact: true }).textContent());
    assert.equal(policy.Statement[0].Action, "s3:PutObject");
    assert.equal(policy.Statement[0].Resource, `arn:aws:s3:::${bucket}/audit-logs/*`);
    await step.getByRole("button", { name: "Test connection and write the verification file" }).click();
    const named = (await step.locator("code.verification-object").textContent()).trim();
    const prefix = `s3://${bucket}/`;
    assert.ok(named.startsWith(`${prefix}audit-logs/auditrelay-verify-test-`), named);
    // What the admin does in their own account: read the file.
    const read = spawnSync(python, ["-c", `import boto3,sys; sys.stdout.write(boto3.client('s3', endpoint_url='${process.env.AWS_ENDPOINT_URL}', region_name='us-east-1').get_object(Bucket='${bucket}', Key='${named.slice(prefix.length)}')['Body'].read().decode())`], { encoding: "utf8" });
    assert.equal(read.status, 0, read.stderr);
    const token = read.stdout.trim();
    assert.ok(token.length >= 16, token);
    await shot(page, "bucket-policy-verify");
    // A wrong token is refused, named on the field.
    await step.getByLabel("Ownership token").fill("not-the-token");
    await step.getByRole("button", { name: "Verify" }).click();
    await step.getByText(/token: does not match/).first().waitFor();
    assert.equal(await step.getByLabel("Ownership token").getAttribute("aria-invalid"), "true");
    await step.getByLabel("Ownership token").fill(token);
    await step.getByRole("button", { name: "Verify" }).click();
    await page.getByText(/Bucket ownership verified/).waitFor();
    await page.getByText("enabled", { exact: true }).first().waitFor();
    await page.context().close();
  });

  test("notification e-mails: edited as a list, each address with its subscription status", async () => {
    const page = await ownerPage();
    await page.goto(`${base}/console/?view=exports`);
    const form = page.getByRole("form", { name: "Notification e-mails" });
    await form.getByRole("button", { name: "Add address" }).click();
    await form.getByLabel("E-mail address 1").fill("not-an-address");
    await form.getByRole("button", { name: "Save addresses" }).click();
    await form.getByText(/emails\[0\]/).first().waitFor();
    assert.equal(await form.getByLabel("E-mail address 1").getAttribute("aria-invalid"), "true");
    await form.getByLabel("E-mail address 1").fill("security@example.com");
    await form.getByRole("button", { name: "Add address" }).click();
    await form.getByLabel("E-mail address 2").fill("oncall@example.com");
    await form.getByRole("button", { name: "Save addresses" }).click();
    const subs = page.locator("table.subscriptions");
    await subs.locator('tr[data-email="oncall@example.com"]').waitFor();
    for (const email of ["security@example.com", "oncall@example.com"]) {
      assert.match(await subs.locator(`tr[data-email="${email}"] .badge`).textContent(), /waiting for confirmation|confirmed|unsubscribed/);
    }
    const stored = await page.evaluate(async ([org]) => {
      const r = await fetch(`../orgs/${org}/notifications`, { headers: { authorization: `Bearer ${sessionStorage.getItem("auditrelay.apiKey")}` } });
      return r.json();
    }, [org.org_id]);
    assert.deepEqual(stored.emails, ["security@example.com", "oncall@example.com"]);
    // Removing one and saving keeps the other.
    await page.getByRole("form", { name: "Notification e-mails" }).getByRole("button", { name: "Remove security@example.com" }).click();
    await page.getByRole("form", { name: "Notification e-mails" }).getByRole("button", { name: "Save addresses" }).click();
    await waitFor(async () => (await page.locator("table.subscriptions tbody tr").count()) === 1, "one address left");
    await page.locator("section[aria-labelledby='notifications-title']").screenshot({ path: path.join(shots, "notifications.png") });
    await page.context().close();
  });

  test("destination health: a line and a 24-hour SVG chart per destination", async () => {
    // The webhook created above has delivered a test; an event now gives it a real delivery.
    const r = await fetch(`${base}/v1/audit/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${keys.writer}`, "content-type": "application/json" },
      body: JSON.stringify({ event_id: "evt_e2e_health", action: "user.login", actor: { user_id: "usr_jane" } }),
    });
    assert.equal(r.status, 202, await r.text());
    await waitFor(() => receiver.requests.some((q) => q.path === "/hook" && q.headers["webhook-id"] === "evt_e2e_health"), "the webhook delivery");
    const page = await ownerPage();
    await page.goto(`${base}/console/?view=exports`);
    const panel = page.locator("section[aria-labelledby='health-title']");
    const hook = panel.locator("li.health-item[data-kind='webhook']").first();
    await hook.waitFor();
    await waitFor(async () => {
      await panel.getByRole("button", { name: "Refresh" }).click();
      return /delivered \(1\)/.test(await panel.locator("li.health-item[data-kind='webhook']").first().textContent());
    }, "the delivery in the health chart");
    const item = panel.locator("li.health-item[data-kind='webhook']").first();
    assert.match(await item.textContent(), /Last success: .+ · Failure streak: none · Lag: 0 s/);
    const chart = item.locator("svg.health-chart");
    assert.equal(await chart.count(), 1);
    assert.equal(await chart.getAttribute("role"), "img");
    assert.match(await chart.getAttribute("aria-label"), /1 attempts delivered, 0 failed/);
    assert.equal(await chart.locator("g.bar").count(), 24);
    assert.equal(await chart.locator("rect.ok").count(), 1);
    // Every configured kind is listed: the OTLP export (no hourly record) and the bucket.
    assert.equal(await panel.locator("li.health-item[data-kind='otel'] svg.health-chart").count(), 1);
    assert.match(await panel.locator("li.health-item[data-kind='otel']").textContent(), /Not recorded/);
    assert.match(await panel.locator("li.health-item[data-kind='s3']").textContent(), /s3:\/\/acme-verify-e2e\/audit-logs\//);
    await panel.screenshot({ path: path.join(shots, "health.png") });
    await page.context().close();
  });

  test("nothing was requested from another origin, and no script error or CSP violation", () => {
    assert.deepEqual(external, []);
    assert.deepEqual(pageErrors, []);
  });
});
