// FaceRunner dashboard: vanilla JS over /api/v1 and /api/v1/events.
"use strict";
const $ = (s, el = document) => el.querySelector(s);
const main = $("#main");
const state = { status: null, services: {}, gpus: null, es: null, logFor: null, onEvent: [] };

function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "on") for (const [ev, f] of Object.entries(v)) el.addEventListener(ev, f);
    else if (v === true) el.setAttribute(k, "");
    else if (v !== false && v != null) el.setAttribute(k, v);
  }
  for (const c of kids.flat()) if (c != null) el.append(c.nodeType ? c : String(c));
  return el;
}

async function api(method, path, body, raw) {
  const opt = { method, headers: {} };
  if (body !== undefined) {
    opt.body = raw ? body : JSON.stringify(body);
    opt.headers["content-type"] = raw ? "text/plain" : "application/json";
  }
  const r = await fetch("/api/v1" + path, opt);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = { detail: text }; }
  if (r.status === 401) showLogin(data);
  if (!r.ok) { const e = new Error((data && data.detail) || r.statusText); e.problem = data; e.status = r.status; throw e; }
  return data;
}

function showLogin(p) {
  main.replaceChildren(h("h1", {}, "Sign in"),
    h("p", {}, (p && p.detail) || "A token is needed."),
    h("p", {}, "Run ", h("code", {}, "facerunner dashboard"), " in the project and open the login link it prints."));
}

function bytes(n) {
  if (n == null) return "–";
  const u = ["B", "KB", "MB", "GB", "TB"]; let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}
function stateText(s) {
  const st = s.state || {};
  let t = st.state || "?";
  if (st.state === "running" && st.health && st.health.health !== "none") t += " · " + st.health.health;
  if (st.state === "exited" && st.exit) t += " (" + (st.exit.code != null ? "code " + st.exit.code : st.exit.signal || "") + ")";
  return t;
}
function stateClass(s) {
  const st = s.state || {};
  if (st.state === "running") return st.health && st.health.health === "unhealthy" ? "bad" : "ok";
  if (st.state === "failed" || st.state === "backoff") return "bad";
  return "muted";
}

// ---- live events ----
function connect() {
  if (state.es) state.es.close();
  const q = state.logFor ? "?logs=" + encodeURIComponent(state.logFor) : "";
  const es = new EventSource("/api/v1/events" + q);
  state.es = es;
  const live = $("#live");
  es.onopen = () => { live.textContent = "live"; live.className = "ok"; };
  es.onerror = () => { live.textContent = "reconnecting…"; live.className = "warn"; };
  for (const name of ["service", "status", "watch", "apply", "apply_done", "apply_failed", "pull", "log", "dropped", "daemon_unreachable"]) {
    es.addEventListener(name, (m) => {
      const e = JSON.parse(m.data);
      if (name === "service") { state.services[e.service.name] = e.service; }
      if (name === "status") { for (const s of e.report.services) state.services[s.name] = s; state.status = e.report; }
      if (name === "dropped") { live.textContent = "dropped: " + e.reason; live.className = "bad"; }
      for (const f of state.onEvent) f(name, e);
    });
  }
}

// ---- pages ----
const pages = {
  "": overview, "service": servicePage, "models": modelsPage, "plan": planPage,
  "file": filePage, "integrations": integrationsPage,
};

function route() {
  const [, page = "", arg] = (location.hash || "#/").split("/");
  state.onEvent = [];
  const wantLog = page === "service" ? decodeURIComponent(arg || "") : null;
  if (wantLog !== state.logFor || !state.es) { state.logFor = wantLog; connect(); }
  (pages[page] || overview)(arg && decodeURIComponent(arg));
  main.focus();
}
window.addEventListener("hashchange", route);

async function overview() {
  main.replaceChildren(h("h1", {}, "Overview"), h("p", { class: "muted" }, "loading…"));
  let report, gpus;
  try { [report, gpus] = await Promise.all([api("GET", "/status"), api("GET", "/gpus")]); } catch (e) { if (e.status !== 401) main.append(h("p", { class: "bad" }, e.message)); return; }
  state.status = report;
  for (const s of report.services) state.services[s.name] = s;
  const body = h("tbody");
  const table = h("div", { class: "wrap" }, h("table", { id: "services" },
    h("thead", {}, h("tr", {}, h("th", {}, "Service"), h("th", {}, "State"), h("th", { class: "opt" }, "PID"),
      h("th", {}, "Restarts"), h("th", { class: "opt" }, "Port"), h("th", { class: "opt" }, "CPU"), h("th", { class: "opt" }, "Memory"))),
    body));
  function draw() {
    body.replaceChildren(...report.services.map((s0) => {
      const s = state.services[s0.name] || s0;
      return h("tr", { "data-service": s.name },
        h("td", {}, h("a", { href: "#/service/" + encodeURIComponent(s.name) }, s.name), " ", h("span", { class: "muted" }, s.kind)),
        h("td", { class: stateClass(s), "data-state": (s.state || {}).state }, stateText(s)),
        h("td", { class: "opt" }, (s.state && s.state.pid) || "–"),
        h("td", {}, s.restarts),
        h("td", { class: "opt" }, s.port || "–"),
        h("td", { class: "opt" }, s.cpu_percent != null ? s.cpu_percent.toFixed(1) + "%" : "–"),
        h("td", { class: "opt" }, bytes(s.rss_bytes)));
    }));
  }
  draw();
  const gpuList = (gpus.gpus || []).map((g) => h("div", { class: "card" },
    h("strong", {}, "GPU " + g.index + " · " + g.name), " ",
    h("span", { class: "muted" }, bytes(g.memory_used_bytes) + " / " + bytes(g.memory_total_bytes)),
    g.utilization_percent != null ? " · " + g.utilization_percent + "% busy" : "",
    h("progress", { max: g.memory_total_bytes || 1, value: g.memory_used_bytes, "aria-label": "memory used" })));
  let hooks = { failures: [] };
  try { hooks = await api("GET", "/webhooks"); } catch (_) {}
  const hookList = hooks.failures.length ? [h("h2", {}, "Webhook deliveries that failed"),
    h("ul", { id: "webhook-failures" }, hooks.failures.slice(-10).map((f) => h("li", { class: "bad" }, f.at + " " + f.event + " → " + f.url + ": " + f.error)))] : [];
  main.replaceChildren(h("h1", {}, "Overview · " + report.project), table,
    h("h2", {}, "GPUs"), gpuList.length ? gpuList : h("p", { class: "muted" }, gpus.unavailable || "No GPU found."), ...hookList);
  state.onEvent.push((name) => { if (name === "service" || name === "status") draw(); });
}

async function servicePage(name) {
  const pre = h("pre", { class: "log", id: "log", "aria-live": "off", tabindex: "0" });
  const filter = h("input", { type: "search", placeholder: "filter", "aria-label": "filter lines" });
  const search = h("input", { type: "search", placeholder: "search (highlight)", "aria-label": "search" });
  const follow = h("input", { type: "checkbox", id: "follow", checked: true });
  const stateEl = h("span", { id: "svc-state" });
  const msg = h("span", { role: "status" });
  let lines = [];
  const act = (a) => async () => {
    if (a === "stop" && !confirm("Stop " + name + "?")) return;
    msg.textContent = a + "…";
    try { const r = await api("POST", "/services/" + encodeURIComponent(name) + "/" + a); msg.textContent = a + (r.failed.length ? " failed: " + r.failed.join(", ") : " done"); }
    catch (e) { msg.textContent = e.message; }
  };
  function draw() {
    const f = filter.value.toLowerCase(), q = search.value;
    pre.replaceChildren(...lines.filter((l) => !f || l.text.toLowerCase().includes(f)).map((l) => {
      const span = h("span", { class: l.stream }, (l.time ? l.time.slice(11, 19) + " " : ""));
      if (q && l.text.includes(q)) { const parts = l.text.split(q); parts.forEach((p, i) => { span.append(p); if (i < parts.length - 1) span.append(h("mark", {}, q)); }); }
      else span.append(l.text);
      span.append("\n");
      return span;
    }));
    if (follow.checked) pre.scrollTop = pre.scrollHeight;
  }
  function drawState() { const s = state.services[name]; if (s) { stateEl.textContent = stateText(s); stateEl.className = stateClass(s); } }
  main.replaceChildren(h("h1", {}, "Service " + name, " ", stateEl),
    h("div", { class: "row" },
      h("button", { on: { click: act("restart") } }, "Restart"),
      h("button", { on: { click: act("stop") } }, "Stop"),
      h("button", { on: { click: act("start") } }, "Start"), msg),
    h("div", { class: "row" }, filter, search, h("label", { for: "follow" }, follow, " follow")), pre);
  filter.addEventListener("input", draw); search.addEventListener("input", draw);
  try { lines = (await api("GET", "/services/" + encodeURIComponent(name) + "/logs?tail=1000")).lines; } catch (e) { msg.textContent = e.message; }
  try { const r = await api("GET", "/status"); for (const s of r.services) state.services[s.name] = s; } catch (_) {}
  drawState(); draw();
  state.onEvent.push((ev, e) => {
    if (ev === "log" && e.line.service === name) { lines.push(e.line); if (lines.length > 5000) lines.shift(); draw(); }
    if (ev === "service" || ev === "status") drawState();
  });
}

async function modelsPage() {
  const list = h("div", { id: "models" });
  const name = h("input", { id: "pull-name", placeholder: "llama3.2:1b or hf:org/repo", "aria-label": "model to pull" });
  const bar = h("progress", { id: "pull-progress", max: 100, value: 0, "aria-label": "pull progress" });
  const pct = h("span", { id: "pull-percent" }, "");
  const msg = h("span", { id: "pull-msg", role: "status" });
  const hf = h("input", { id: "hf-name", placeholder: "org/repo[:quant]", "aria-label": "Hugging Face name" });
  const hfOut = h("span", { id: "hf-out", role: "status" });
  async function load() {
    try {
      const all = await api("GET", "/models");
      const remove = (svc, m) => async () => {
        if (!confirm("Remove " + m.name + " from " + svc + "?")) return;
        try { await api("DELETE", "/models/" + encodeURIComponent(svc) + "/" + encodeURIComponent(m.name)); load(); }
        catch (e) { msg.textContent = e.message; }
      };
      const row = (svc, m) => h("tr", { "data-model": m.name },
        h("td", {}, m.name), h("td", {}, bytes(m.size)), h("td", {}, m.owned ? "yes" : "no"),
        h("td", {}, m.loaded == null ? "–" : m.loaded ? "yes" : "no"),
        h("td", {}, h("button", { on: { click: remove(svc, m) } }, "Remove")));
      const head = h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Size"), h("th", {}, "Owned"), h("th", {}, "Loaded"), h("th", {}, "")));
      list.replaceChildren(...Object.entries(all).map(([svc, v]) => h("div", { class: "card" }, h("h2", {}, svc),
        h("div", { class: "wrap" }, h("table", {}, head.cloneNode(true), h("tbody", {}, v.models.map((m) => row(svc, m))))))));
    } catch (e) { list.replaceChildren(h("p", { class: "bad" }, e.message)); }
  }
  main.replaceChildren(h("h1", {}, "Models"),
    h("div", { class: "card" }, h("h2", {}, "Pull"), h("div", { class: "row" }, name,
      h("button", { class: "primary", id: "pull", on: { click: async () => {
        bar.value = 0; pct.textContent = "0%"; msg.textContent = "pulling…";
        try { await api("POST", "/models/pull", { name: name.value }); bar.value = 100; pct.textContent = "100%"; msg.textContent = "done"; load(); }
        catch (e) { msg.textContent = e.message; }
      } } }, "Pull")), bar, h("div", { class: "row" }, pct, msg)),
    h("div", { class: "card" }, h("h2", {}, "Hugging Face name → Ollama name"), h("div", { class: "row" }, hf,
      h("button", { on: { click: async () => {
        try { const c = await api("GET", "/convert?name=" + encodeURIComponent(hf.value)); hfOut.textContent = c.ollama + " — " + c.reason; }
        catch (e) { hfOut.textContent = e.message; }
      } } }, "Convert")), hfOut),
    list);
  state.onEvent.push((ev, e) => {
    if (ev === "pull" && e.event.event === "progress" && e.event.total) {
      const p = Math.floor(100 * e.event.completed / e.event.total);
      bar.value = p; pct.textContent = p + "%"; bar.dataset.eventPercent = String(p);
    }
  });
  load();
}

function renderPlan(plan) {
  if (!plan.steps.length && !plan.checks.length) return h("p", { id: "plan-empty" }, "No changes.");
  return h("div", { id: "plan" },
    plan.checks.length ? h("ul", { class: "diags" }, plan.checks.map((c) => h("li", { class: c.severity === "error" ? "bad" : "warn" }, c.severity + ": " + c.message))) : null,
    h("ol", {}, plan.steps.map((s) => h("li", { class: "step", "data-action": s.action },
      h("strong", {}, s.action), " ", s.service || s.model || "", " ", h("span", { class: "muted" }, "— " + s.reason)))));
}

async function planPage() {
  const out = h("div", {}, "planning…");
  const progress = h("ol", { id: "apply-progress" });
  const msg = h("p", { id: "apply-msg", role: "status" });
  const btn = h("button", { class: "primary", id: "apply", disabled: true }, "Apply");
  let plan = null;
  async function load() {
    try { plan = await api("GET", "/plan"); out.replaceChildren(renderPlan(plan)); btn.disabled = !plan.steps.length || plan.checks.some((c) => c.severity === "error"); }
    catch (e) { out.replaceChildren(h("p", { class: "bad" }, e.message)); }
  }
  btn.addEventListener("click", async () => {
    if (!confirm("Apply " + plan.steps.length + " change(s)?")) return;
    btn.disabled = true; progress.replaceChildren(); msg.textContent = "applying…";
    try { const r = await api("POST", "/apply", plan); msg.textContent = r.applied ? "Applied." : "No changes."; msg.className = "ok"; }
    catch (e) { msg.textContent = e.message + (e.status === 409 ? " — review the new plan below." : ""); msg.className = "bad"; }
    load();
  });
  main.replaceChildren(h("h1", {}, "Plan & apply"), h("div", { class: "row" }, btn, h("button", { on: { click: load } }, "Plan again")), out, msg, progress);
  state.onEvent.push((ev, e) => {
    if (ev === "apply" && e.event.event === "step_finished") progress.append(h("li", { class: e.event.outcome === "succeeded" ? "ok" : "bad" }, e.event.title + ": " + e.event.outcome));
  });
  load();
}

async function filePage() {
  const ta = h("textarea", { id: "file-text", spellcheck: "false", "aria-label": "facerunner.yaml", "aria-describedby": "diags" });
  const gutter = h("div", { class: "gutter", id: "gutter", "aria-hidden": "true" });
  const diags = h("ul", { class: "diags", id: "diags", "aria-live": "polite" });
  const save = h("button", { class: "primary", id: "save", disabled: true }, "Save");
  const msg = h("p", { id: "save-msg", role: "status" });
  const planOut = h("div");
  let original = "", seq = 0, timer = null;
  function drawGutter(errLines) {
    const n = ta.value.split("\n").length;
    const rows = [];
    for (let i = 1; i <= n; i++) rows.push(errLines.has(i) ? "● " + i : String(i));
    gutter.replaceChildren(...rows.map((r) => h("div", { class: r.startsWith("●") ? "e" : "" }, r)));
  }
  async function check() {
    const mine = ++seq;
    save.disabled = true;
    let r;
    try { r = await api("POST", "/validate", ta.value, true); } catch (e) { msg.textContent = e.message; return; }
    if (mine !== seq) return;
    const errLines = new Set();
    diags.replaceChildren(...r.diagnostics.map((d) => {
      const line = d.range ? d.range.start.line : 1;
      if (d.severity === "error") errLines.add(line);
      return h("li", { class: d.severity === "error" ? "bad" : "warn", "data-line": line },
        h("a", { href: "#/file", on: { click: (ev) => { ev.preventDefault(); goto(line); } } }, "line " + line), ": " + d.severity + ": " + d.summary + (d.detail ? " — " + d.detail : ""));
    }));
    drawGutter(errLines);
    save.disabled = !r.valid || ta.value === original;
    msg.textContent = r.valid ? "" : r.error_count + " error(s); fix them to save.";
  }
  function goto(line) {
    const lines = ta.value.split("\n"); let pos = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) pos += lines[i].length + 1;
    ta.focus(); ta.setSelectionRange(pos, pos);
  }
  ta.addEventListener("input", () => { save.disabled = true; drawGutter(new Set()); clearTimeout(timer); timer = setTimeout(check, 250); });
  ta.addEventListener("scroll", () => { gutter.scrollTop = ta.scrollTop; });
  save.addEventListener("click", async () => {
    save.disabled = true;
    try { const r = await api("PUT", "/file", ta.value, true); original = ta.value; msg.textContent = "Saved. Review the plan and apply it:"; planOut.replaceChildren(renderPlan(r.plan), h("p", {}, h("a", { href: "#/plan", id: "to-plan" }, "Go to Plan & apply"))); }
    catch (e) { msg.textContent = e.message; check(); }
  });
  main.replaceChildren(h("h1", {}, "File"), h("p", { class: "muted", id: "file-path" }), h("div", { class: "editor" }, gutter, ta),
    h("div", { class: "row" }, save), msg, diags, planOut);
  try { const f = await api("GET", "/file"); $("#file-path").textContent = f.path; ta.value = original = f.text; drawGutter(new Set()); check(); } catch (e) { msg.textContent = e.message; }
}

async function integrationsPage() {
  const out = h("div");
  const editors = h("div", { id: "editor-config" });
  main.replaceChildren(h("h1", {}, "Integrations"), out, h("h2", {}, "Editors"), editors);
  try {
    const r = await api("GET", "/status");
    const uis = r.services.filter((s) => s.kind === "open-webui" && s.port);
    out.replaceChildren(uis.length ? h("ul", {}, uis.map((s) => h("li", {}, h("a", { href: "http://" + location.hostname + ":" + s.port + "/", target: "_blank", rel: "noopener" }, "Chat in Open WebUI (" + s.name + ")"), " ", h("span", { class: stateClass(s) }, stateText(s)))))
      : h("p", { class: "muted" }, "No Open WebUI service in this project; add one with `kind: open-webui`."));
  } catch (e) { if (e.status !== 401) out.replaceChildren(h("p", { class: "bad" }, e.message)); }
  try {
    const c = await api("GET", "/integrations");
    const block = (id, title, x, enableHint) => {
      const pre = h("pre", { class: "log", id: id + "-config", tabindex: "0", "aria-label": title }, x.text);
      const copy = h("button", { type: "button", id: id + "-copy" }, "Copy");
      copy.addEventListener("click", async () => {
        try { await navigator.clipboard.writeText(x.text); copy.textContent = "Copied"; }
        catch (_) { const sel = getSelection(); sel.selectAllChildren(pre); copy.textContent = "Selected: press Ctrl+C"; }
      });
      return h("section", { "data-integration": id, "data-enabled": x.enabled ? "true" : "false" },
        h("h3", {}, title),
        h("p", { class: "muted" }, x.enabled ? "The file enables it: " + x.how + " " + x.path + " on apply." : enableHint + " What it holds, for " + x.path + ":"),
        h("div", { class: "row" }, copy), pre);
    };
    editors.replaceChildren(
      block("continue", "Continue", c.continue, "Not enabled: add `integrations: { continue: {} }` to the file to have FaceRunner write it."),
      block("zed", "Zed", c.zed, "Not enabled: add `integrations: { zed: { merge: true } }` to have FaceRunner merge it."));
  } catch (e) { if (e.status !== 401) editors.replaceChildren(h("p", { class: "bad" }, e.message)); }
}

route();
