// syscorr HTML report: the interactive timeline drawn on one canvas.
// Contract: reads the JSON data elements (#syscorr-data, the .syscorr-chunk slices of each lane,
// the counters, #syscorr-tail; application/json, see htmlreport.py for their shape), draws one
// lane per track (nesting depth = rows); a group of tasks with one root coroutine gets a header
// row that folds it (folded: its tasks' top-level slices drawn in that one row; a click on the
// label unfolds it), a process label folds the whole process; zooms and pans
// (wheel with Ctrl/Alt or the W/S/A/D keys zoom and pan; drag pans; plain wheel scrolls lanes),
// shows a slice's details on hover, selects it on click, jumps to a finding or search match on
// click. Every string from the trace reaches the page through textContent or fillText only.
// Cost per frame is bounded by the canvas width per visible row, not by the number of events:
// rows hold slices that never overlap, so sub-pixel runs are skipped by binary search.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("syscorr-data").textContent);
  const ROW = 18, PAD = 4, HEAD = 16;
  const timeline = document.getElementById("timeline");
  const lanesEl = document.getElementById("lanes");
  const labels = document.getElementById("labels");
  const canvas = document.getElementById("canvas");
  const ctx = canvas.getContext("2d");
  const tooltip = document.getElementById("tooltip");
  const details = document.getElementById("details");
  const span = Math.max(1, data.end);

  // Lanes: rows of non-overlapping slices, columnar, gathered from the data chunks (one lane's
  // slices per chunk, in order); each chunk's text is dropped once read.
  const cols = data.lanes.map(() => ({ start: [], dur: [], depth: [], names: [], cats: [], details: [] }));
  for (const el of document.querySelectorAll("script.syscorr-chunk")) {
    const c = JSON.parse(el.textContent), into = cols[c.lane], S = c.strings;
    for (let i = 0; i < c.start.length; i++) {
      into.start.push(c.start[i]); into.dur.push(c.dur[i]); into.depth.push(c.depth[i]);
      into.names.push(S[c.name[i]]); into.cats.push(S[c.cat[i]]); into.details.push(S[c.detail[i]]);
    }
    el.textContent = "";
  }
  const lanes = data.lanes.map((meta, index) => {
    const col = cols[index], n = col.start.length;
    const start = Float64Array.from(col.start);
    const end = new Float64Array(n);
    for (let i = 0; i < n; i++) end[i] = start[i] + col.dur[i];
    const depth = Uint8Array.from(col.depth);
    let rows = 1;
    for (let i = 0; i < n; i++) if (depth[i] + 1 > rows) rows = depth[i] + 1;
    const byRow = [];
    for (let r = 0; r < rows; r++) byRow.push([]);
    for (let i = 0; i < n; i++) byRow[depth[i]].push(i);
    const rowIdx = byRow.map((ids) => Int32Array.from(ids));
    cols[index] = null;
    return { index, name: meta.name, kind: meta.kind, pid: meta.pid, group: meta.group,
             start, end, depth, rows, rowIdx, names: col.names, cats: col.cats,
             details: col.details, top: 0, height: 0, visible: true };
  });
  const groups = (data.groups || []).map((g, index) => ({ index, name: g.name, pid: g.pid,
    members: g.lanes.map((i) => lanes[i]), collapsed: g.collapsed, kind: "group", top: 0, height: 0 }));
  const counterNames = JSON.parse((document.querySelector("script.syscorr-counters") || {}).textContent || "[]");
  const counterCols = counterNames.map(() => ({ t: [], v: [] }));
  for (const el of document.querySelectorAll("script.syscorr-counter")) {
    const c = JSON.parse(el.textContent), into = counterCols[c.counter];
    for (let i = 0; i < c.t.length; i++) { into.t.push(c.t[i]); into.v.push(c.v[i]); }
    el.textContent = "";
  }
  const counters = counterNames.map((name, k) => ({
    name, t: Float64Array.from(counterCols[k].t), v: Float64Array.from(counterCols[k].v),
    max: counterCols[k].v.reduce((a, b) => Math.max(a, b), 0) || 1, top: 0, height: 30, kind: "counter",
  }));
  const tail = JSON.parse(document.getElementById("syscorr-tail").textContent);
  data.flows = tail.flows;
  data.findings = tail.findings;

  // Rows on screen: lanes, a header per group of tasks (folded: the members' top-level slices
  // drawn in one row), counters. A click on a process or group label folds or unfolds it.
  const foldedPids = new Set();
  let rowsAll = [];
  function layoutRows() {
    rowsAll = [];
    let y = 0;
    const put = (row, height) => { row.top = y; row.height = height; y += height; rowsAll.push(row); };
    for (const lane of lanes) {
      lane.visible = false;
      if (lane.kind !== "process" && foldedPids.has(lane.pid)) continue;
      if (lane.group >= 0) {
        const g = groups[lane.group];
        if (g.members[0] === lane) put(g, g.collapsed ? ROW + PAD : HEAD);
        if (g.collapsed) continue;
      }
      lane.visible = true;
      put(lane, lane.rows * ROW + PAD);
    }
    for (const c of counters) put(c, c.height);
    lanesEl.style.height = y + "px";
    labels.textContent = "";
    for (const row of rowsAll) {
      const div = document.createElement("div");
      div.className = "lane-label " + row.kind;
      div.style.top = row.top + "px";
      div.style.height = row.height + "px";
      let text = row.name;
      if (row.kind === "group") {
        text = (row.collapsed ? "▸ " : "▾ ") + row.name + " ×" + row.members.length + " tasks";
        div.addEventListener("click", () => { row.collapsed = !row.collapsed; relayout(); });
      } else if (row.kind === "process") {
        text = (foldedPids.has(row.pid) ? "▸ " : "▾ ") + row.name;
        div.addEventListener("click", () => {
          if (foldedPids.has(row.pid)) foldedPids.delete(row.pid); else foldedPids.add(row.pid);
          relayout();
        });
      }
      div.textContent = text;
      div.title = text;
      labels.appendChild(div);
    }
  }
  function relayout() { layoutRows(); draw(); }
  function reveal(lane) { // unfold what hides a lane
    let changed = false;
    if (foldedPids.delete(lane.pid)) changed = true;
    if (lane.group >= 0 && groups[lane.group].collapsed) { groups[lane.group].collapsed = false; changed = true; }
    if (changed) layoutRows();
  }
  layoutRows();

  // View: [t0, t1] in ns relative to the trace origin.
  const view = { t0: 0, t1: span, width: 800, height: 400 };
  let selected = null; // {lane, i}
  let highlighted = new Set(); // "lane:i" of findings
  for (const f of data.findings) if (f.lane >= 0) highlighted.add(f.lane + ":" + f.slice);

  function resize() {
    const ratio = window.devicePixelRatio || 1;
    view.width = Math.max(200, timeline.clientWidth - canvas.offsetLeft);
    view.height = Math.max(100, timeline.clientHeight);
    canvas.width = Math.floor(view.width * ratio);
    canvas.height = Math.floor(view.height * ratio);
    canvas.style.width = view.width + "px";
    canvas.style.height = view.height + "px";
    canvas.style.marginTop = "0px";
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    draw();
  }

  const x = (t) => ((t - view.t0) / (view.t1 - view.t0)) * view.width;
  const tAt = (px) => view.t0 + (px / view.width) * (view.t1 - view.t0);

  function lowerEnd(arr, ends, t) { // first position p in row `arr` with end >= t
    let lo = 0, hi = arr.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (ends[arr[mid]] < t) lo = mid + 1; else hi = mid; }
    return lo;
  }
  function lowerStart(arr, starts, t, from) { // first position p >= from with start >= t
    let lo = from, hi = arr.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (starts[arr[mid]] < t) lo = mid + 1; else hi = mid; }
    return lo;
  }

  const hues = new Map();
  function colour(lane, i) {
    const cat = lane.cats[i];
    if (cat === "loop-wait") return "#9ec5e8";
    if (cat === "syscall") return lane.details[i].includes(" = -1 ") ? "#e57373" : "#f0a35e";
    if (cat === "callback") return "#b39ddb";
    const name = lane.names[i];
    let h = hues.get(name);
    if (h === undefined) {
      h = 0; for (let k = 0; k < name.length; k++) h = (h * 31 + name.charCodeAt(k)) % 360;
      hues.set(name, h);
    }
    return "hsl(" + h + ",55%,62%)";
  }

  let pending = false;
  function draw() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; paint(); });
  }

  function paintRow(lane, r, ry, labelled) { // one row of a lane, sub-pixel runs skipped
    const arr = lane.rowIdx[r];
    let p = lowerEnd(arr, lane.end, view.t0);
    while (p < arr.length) {
      const i = arr[p];
      const s = lane.start[i];
      if (s > view.t1) break;
      const x0 = x(s), x1 = x(lane.end[i]);
      const w = Math.max(1, x1 - x0);
      ctx.fillStyle = colour(lane, i);
      ctx.fillRect(x0, ry, w, ROW - 3);
      if (highlighted.has(lane.index + ":" + i)) {
        ctx.strokeStyle = "#c62828"; ctx.lineWidth = 2;
        ctx.strokeRect(x0, ry, w, ROW - 3);
      }
      if (labelled && w > 30) {
        ctx.fillStyle = "#1d232b";
        ctx.save(); ctx.beginPath(); ctx.rect(x0, ry, w, ROW - 3); ctx.clip();
        ctx.fillText(lane.names[i], Math.max(x0, 0) + 3, ry + (ROW - 3) / 2);
        ctx.restore();
      }
      if (x1 - x0 < 1) { // sub-pixel: jump to the first slice starting in the next pixel
        p = lowerStart(arr, lane.start, tAt(Math.floor(x0) + 1), p + 1);
        continue;
      }
      p++;
    }
  }

  function paint() {
    const top = timeline.scrollTop, bottom = top + view.height;
    ctx.clearRect(0, 0, view.width, view.height);
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    const perPx = (view.t1 - view.t0) / view.width;
    for (const row of rowsAll) {
      if (row.top + row.height < top || row.top > bottom) continue;
      const ly = row.top - top;
      ctx.fillStyle = "#eef0f3";
      ctx.fillRect(0, ly + row.height - 1, view.width, 1);
      if (row.kind === "counter") { paintCounter(row, ly); continue; }
      if (row.kind === "group") {
        if (row.collapsed) for (const m of row.members) paintRow(m, 0, ly + 2, false);
        continue;
      }
      for (let r = 0; r < row.rows; r++) paintRow(row, r, ly + r * ROW + 2, true);
    }
    paintFlows(top);
    if (selected && lanes[selected.lane].visible) {
      const lane = lanes[selected.lane], i = selected.i;
      const ry = lane.top - top + lane.depth[i] * ROW + 2;
      ctx.strokeStyle = "#0b63c4"; ctx.lineWidth = 2;
      ctx.strokeRect(x(lane.start[i]) - 1, ry - 1, Math.max(3, x(lane.end[i]) - x(lane.start[i]) + 2), ROW - 1);
    }
    paintAxis(perPx);
  }

  function paintCounter(c, ly) {
    ctx.fillStyle = "#ce93d8";
    let p = 0;
    while (p < c.t.length && c.t[p] < view.t0) p++;
    p = Math.max(0, p - 1);
    for (; p < c.t.length; p++) {
      const t = c.t[p];
      if (t > view.t1) break;
      const next = p + 1 < c.t.length ? c.t[p + 1] : view.t1;
      const h = (c.v[p] / c.max) * (c.height - 6);
      if (h > 0) ctx.fillRect(x(t), ly + c.height - 3 - h, Math.max(1, x(next) - x(t)), h);
    }
  }

  function slicePoint(lane, i, top, atEnd) {
    return { x: x(atEnd ? lane.end[i] : lane.start[i]), y: lane.top - top + lane.depth[i] * ROW + ROW / 2 };
  }

  function paintFlows(top) {
    const flows = data.flows;
    const showAll = flows.length <= 2000;
    ctx.strokeStyle = "#37474f"; ctx.lineWidth = 1;
    for (let k = 0; k < flows.length; k++) {
      const [sl, si, tl, ti] = flows[k];
      const touches = selected && ((selected.lane === sl && selected.i === si) || (selected.lane === tl && selected.i === ti));
      if (!showAll && !touches) continue;
      if (!lanes[sl].visible || !lanes[tl].visible) continue;
      const a = slicePoint(lanes[sl], si, top, true), b = slicePoint(lanes[tl], ti, top, false);
      if ((a.x < 0 && b.x < 0) || (a.x > view.width && b.x > view.width)) continue;
      ctx.globalAlpha = touches ? 1 : 0.35;
      ctx.beginPath(); ctx.moveTo(a.x, a.y);
      ctx.bezierCurveTo(a.x + 20, a.y, b.x - 20, b.y, b.x, b.y); ctx.stroke();
      ctx.beginPath(); ctx.moveTo(b.x, b.y); ctx.lineTo(b.x - 5, b.y - 3); ctx.lineTo(b.x - 5, b.y + 3);
      ctx.fillStyle = "#37474f"; ctx.fill();
    }
    ctx.globalAlpha = 1;
  }

  function fmt(ns) {
    const a = Math.abs(ns);
    if (a < 1e3) return ns.toFixed(0) + " ns";
    if (a < 1e6) return (ns / 1e3).toFixed(1) + " µs";
    if (a < 1e9) return (ns / 1e6).toFixed(2) + " ms";
    return (ns / 1e9).toFixed(3) + " s";
  }

  const axis = document.getElementById("axis");
  function paintAxis(perPx) {
    const step = niceStep(perPx * 100);
    axis.textContent = "";
    for (let t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
      const tick = document.createElement("span");
      tick.style.position = "absolute"; tick.style.left = x(t) + "px";
      tick.className = "muted mono"; tick.textContent = "|" + fmt(t);
      axis.appendChild(tick);
    }
    document.getElementById("range").textContent = fmt(view.t0) + " – " + fmt(view.t1) + "  (" + fmt(view.t1 - view.t0) + " shown)";
  }
  function niceStep(raw) {
    const p = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1))));
    for (const m of [1, 2, 5, 10]) if (p * m >= raw) return p * m;
    return p * 10;
  }

  function hitRow(lane, r, t, slop) {
    const arr = lane.rowIdx[r];
    const p = lowerEnd(arr, lane.end, t - slop);
    if (p < arr.length && lane.start[arr[p]] <= t + slop) return { lane: lane.index, i: arr[p] };
    return null;
  }

  function hit(ev) {
    const rect = canvas.getBoundingClientRect();
    const px = ev.clientX - rect.left, py = ev.clientY - rect.top + timeline.scrollTop;
    const slop = (view.t1 - view.t0) / view.width * 2, t = tAt(px);
    for (const row of rowsAll) {
      if (py < row.top || py >= row.top + row.height) continue;
      if (row.kind === "counter") return null;
      if (row.kind === "group") {
        if (!row.collapsed) return null;
        for (const m of row.members) { const h = hitRow(m, 0, t, slop); if (h) return h; }
        return null;
      }
      const r = Math.floor((py - row.top) / ROW);
      return r < row.rows ? hitRow(row, r, t, slop) : null;
    }
    return null;
  }

  function describe(h) {
    const lane = lanes[h.lane], i = h.i;
    const lines = [lane.names[i] + "  [" + lane.cats[i] + "]  on " + lane.name,
      "at +" + fmt(lane.start[i]) + "  for " + fmt(lane.end[i] - lane.start[i])];
    if (lane.details[i]) lines.push(lane.details[i]);
    return lines.join("\n");
  }

  function select(h) {
    selected = h;
    details.textContent = h ? describe(h) : "";
    draw();
  }

  function zoomTo(t0, t1) {
    const min = 1000;
    if (t1 - t0 < min) { const c = (t0 + t1) / 2; t0 = c - min / 2; t1 = c + min / 2; }
    view.t0 = t0; view.t1 = t1; draw();
  }
  function zoomAt(px, factor) {
    const t = tAt(px);
    zoomTo(t - (t - view.t0) * factor, t + (view.t1 - t) * factor);
  }
  function pan(fraction) {
    const d = (view.t1 - view.t0) * fraction; zoomTo(view.t0 + d, view.t1 + d);
  }

  function jump(laneIndex, i) {
    const lane = lanes[laneIndex];
    reveal(lane);
    const s = lane.start[i], e = lane.end[i], pad = Math.max((e - s) * 0.5, 20000);
    zoomTo(s - pad, e + pad);
    timeline.scrollTop = Math.max(0, lane.top - 40);
    select({ lane: laneIndex, i });
  }

  timeline.addEventListener("scroll", draw);
  window.addEventListener("resize", resize);
  canvas.addEventListener("wheel", (ev) => {
    if (ev.ctrlKey || ev.altKey || ev.metaKey) {
      ev.preventDefault();
      zoomAt(ev.offsetX, Math.exp(ev.deltaY * 0.002));
    } else if (ev.shiftKey || Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) {
      ev.preventDefault();
      pan((ev.deltaX || ev.deltaY) / view.width);
    }
  }, { passive: false });
  let drag = null;
  canvas.addEventListener("mousedown", (ev) => { drag = { x: ev.clientX, t0: view.t0, t1: view.t1, moved: false }; });
  window.addEventListener("mouseup", (ev) => {
    if (drag && !drag.moved && ev.target === canvas) select(hit(ev));
    drag = null;
  });
  canvas.addEventListener("mousemove", (ev) => {
    if (drag) {
      const dx = ev.clientX - drag.x;
      if (Math.abs(dx) > 2) drag.moved = true;
      const dt = (dx / view.width) * (drag.t1 - drag.t0);
      view.t0 = drag.t0 - dt; view.t1 = drag.t1 - dt; draw();
      return;
    }
    const h = hit(ev);
    if (!h) { tooltip.style.display = "none"; return; }
    tooltip.textContent = describe(h);
    tooltip.style.display = "block";
    tooltip.style.left = Math.min(ev.clientX + 12, window.innerWidth - 400) + "px";
    tooltip.style.top = ev.clientY + 14 + "px";
  });
  canvas.addEventListener("mouseleave", () => { tooltip.style.display = "none"; });
  document.addEventListener("keydown", (ev) => {
    if (ev.target && ev.target.tagName === "INPUT") return;
    const k = ev.key.toLowerCase(), mid = view.width / 2;
    if (k === "w") zoomAt(mid, 0.8); else if (k === "s") zoomAt(mid, 1.25);
    else if (k === "a") pan(-0.2); else if (k === "d") pan(0.2);
  });
  document.getElementById("zoom-in").addEventListener("click", () => zoomAt(view.width / 2, 0.5));
  document.getElementById("zoom-out").addEventListener("click", () => zoomAt(view.width / 2, 2));
  document.getElementById("zoom-reset").addEventListener("click", () => zoomTo(0, span));

  document.querySelectorAll("#findings li").forEach((li) => {
    li.addEventListener("click", () => {
      document.querySelectorAll("#findings li.active").forEach((a) => a.classList.remove("active"));
      li.classList.add("active");
      const f = data.findings[Number(li.dataset.finding)];
      if (f.lane >= 0) jump(f.lane, f.slice);
      else zoomTo(f.start - 20000, f.end + 20000);
    });
  });

  // Search: slices whose name or details contain the text (first 200 matches listed).
  const matches = document.getElementById("matches");
  document.getElementById("search").addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter") return;
    const needle = ev.target.value.toLowerCase();
    matches.textContent = "";
    if (!needle) return;
    let found = 0;
    for (const lane of lanes) {
      for (let i = 0; i < lane.start.length && found < 200; i++) {
        if (!lane.names[i].toLowerCase().includes(needle) &&
            !lane.details[i].toLowerCase().includes(needle)) continue;
        found++;
        const li = document.createElement("li");
        li.className = "mono";
        li.textContent = "+" + fmt(lane.start[i]) + "  " + lane.name + "  " + lane.names[i] + "  " + lane.details[i];
        const target = { lane: lane.index, i };
        li.addEventListener("click", () => jump(target.lane, target.i));
        matches.appendChild(li);
      }
    }
    document.getElementById("match-count").textContent = found >= 200 ? "200+ matches" : found + " matches";
  });

  window.syscorrReport = { view, lanes, groups, counters, select, jump, zoomTo, hit, describe, paint,
                           relayout, get rows() { return rowsAll; },
                           get selected() { return selected; } };
  resize();
  document.body.dataset.ready = "1";
})();
