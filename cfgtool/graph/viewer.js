"use strict";
(function () {
  const canvas = document.getElementById("canvas");
  const svg = canvas.querySelector("svg");
  const vp = svg.getElementById("viewport");
  const graphW = +svg.getAttribute("width"), graphH = +svg.getAttribute("height");
  svg.removeAttribute("viewBox");
  svg.setAttribute("width", "100%");
  svg.setAttribute("height", "100%");
  const sections = JSON.parse(document.getElementById("sections").textContent);
  const nodes = Array.from(svg.querySelectorAll(".node[data-layer]"));
  const byId = new Map(nodes.map((n) => [n.dataset.layer, n]));
  let s = 1, tx = 0, ty = 0;

  function apply() { vp.setAttribute("transform", `translate(${tx},${ty}) scale(${s})`); }
  function fit() {
    s = Math.min(1, canvas.clientWidth / graphW);
    tx = (canvas.clientWidth - graphW * s) / 2; ty = 0; apply();
  }
  function center(node, scale) {
    const r = node.querySelector("rect");
    const x = +r.getAttribute("x") + +r.getAttribute("width") / 2, y = +r.getAttribute("y") + +r.getAttribute("height") / 2;
    if (scale > 0) s = Math.min(4, Math.max(0.02, scale)); else if (s < 0.6) s = 1;
    tx = canvas.clientWidth / 2 - x * s; ty = canvas.clientHeight / 3 - y * s; apply();
  }
  function nodeOf(layer) {
    if (byId.has(String(layer))) return byId.get(String(layer));
    return nodes.find((n) => n.dataset.last && +n.dataset.layer <= layer && layer <= +n.dataset.last);
  }

  // pan and zoom
  canvas.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const rect = canvas.getBoundingClientRect(), mx = ev.clientX - rect.left, my = ev.clientY - rect.top;
    const f = Math.exp(-ev.deltaY * 0.0015), ns = Math.min(4, Math.max(0.02, s * f));
    tx = mx - (mx - tx) * (ns / s); ty = my - (my - ty) * (ns / s); s = ns; apply();
  }, { passive: false });
  let drag = null;
  canvas.addEventListener("pointerdown", (ev) => {
    drag = { x: ev.clientX, y: ev.clientY, tx, ty, moved: false };
  });
  window.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 4) { drag.moved = true; canvas.classList.add("dragging"); }
    if (drag.moved) { tx = drag.tx + dx; ty = drag.ty + dy; apply(); }
  });
  window.addEventListener("pointerup", () => { canvas.classList.remove("dragging"); setTimeout(() => { drag = null; }, 0); });

  // click a node: its cfg section with line numbers
  const panel = document.getElementById("panel"), pre = document.getElementById("section");
  function show(node) {
    for (const el of svg.querySelectorAll(".selected,.hl")) el.classList.remove("selected", "hl");
    node.classList.add("selected");
    const id = node.dataset.layer;
    for (const e of svg.querySelectorAll(`.edge[data-to="${id}"],.edge[data-from="${id}"]`)) e.classList.add("hl");
    const entry = sections[id];
    document.getElementById("panel-title").textContent =
      (id === "-1" ? "[net]: the network input" : `layer ${id}: ${node.dataset.type}`) + (entry ? `, line ${entry[0]}` : "");
    pre.textContent = "";
    if (entry) {
      entry[1].split("\n").forEach((text, k) => {
        const ln = document.createElement("span"); ln.className = "ln"; ln.textContent = String(entry[0] + k).padStart(5) + " ";
        pre.appendChild(ln); pre.appendChild(document.createTextNode(text + "\n"));
      });
    }
    panel.hidden = false;
    if (history.replaceState) history.replaceState(null, "", "#" + id);
  }
  svg.addEventListener("click", (ev) => {
    if (drag && drag.moved) return;
    const node = ev.target.closest(".node");
    if (node) show(node);
  });
  document.getElementById("close").addEventListener("click", () => { panel.hidden = true; });

  // search by index or type
  const search = document.getElementById("search"), found = document.getElementById("found");
  let matches = [], at = -1, last = "";
  function find(q) {
    q = q.trim().toLowerCase();
    for (const n of svg.querySelectorAll(".match")) n.classList.remove("match");
    if (!q) return [];
    if (/^-?\d+$/.test(q)) { const n = nodeOf(+q); return n ? [n] : []; }
    return nodes.filter((n) => n.dataset.type.toLowerCase().includes(q));
  }
  search.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter") return;
    if (search.value !== last) { last = search.value; matches = find(last); at = -1; }
    for (const n of matches) n.classList.add("match");
    if (!matches.length) { found.textContent = "no match"; return; }
    at = (at + 1) % matches.length;
    found.textContent = `${at + 1}/${matches.length}`;
    center(matches[at]); show(matches[at]);
  });
  document.getElementById("fit").addEventListener("click", fit);
  const legend = document.getElementById("legend");
  document.getElementById("legend-toggle").addEventListener("click", () => { legend.hidden = !legend.hidden; });

  fit();
  // #N shows layer N (#N,0.7: at that zoom), on load and when the address changes
  function go() {
    const [want, zoom] = decodeURIComponent(location.hash.slice(1)).split(",");
    if (want) { const n = nodeOf(+want); if (n) { center(n, +zoom); show(n); } }
  }
  window.addEventListener("hashchange", go);
  go();
  void graphH;
})();
