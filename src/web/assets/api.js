"use strict";
(async () => {
  const main = document.getElementById("doc");
  const r = await fetch("/api/v1/openapi.json");
  if (!r.ok) { main.textContent = "Sign in first: open the login link `facerunner dashboard` prints."; return; }
  const doc = await r.json();
  const el = (t, txt, cls) => { const e = document.createElement(t); if (txt) e.textContent = txt; if (cls) e.className = cls; return e; };
  main.replaceChildren(el("h1", doc.info.title + " (OpenAPI " + doc.openapi + ")"), el("p", doc.info.description));
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const card = el("div", null, "card");
      card.append(el("h2", method.toUpperCase() + " " + path), el("p", op.summary));
      if (op.description) card.append(el("p", op.description, "muted"));
      if (op.requestBody) card.append(el("pre", JSON.stringify(op.requestBody.content["application/json"].schema, null, 2), "log"));
      const ul = el("ul");
      for (const [code, resp] of Object.entries(op.responses)) ul.append(el("li", code + ": " + resp.description));
      card.append(ul);
      main.append(card);
    }
  }
})();
