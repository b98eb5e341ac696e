// sweepstore ui: small SVG plots, no libraries. Plots.scatter, Plots.line and Plots.parallel
// each return an <svg> element; values that are not finite numbers are left out.
"use strict";
window.Plots = (() => {
  const NS = "http://www.w3.org/2000/svg";
  // The right margin holds the colour legend.
  const W = 520, H = 300, M = { l: 52, r: 84, t: 12, b: 36 };
  // At most this many distinct values make an axis ordinal (a sweep's grid values).
  const ORDINAL_MAX = 12;
  const PALETTE = ["#2f6fde", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#0c8599",
                   "#e67700", "#5c940d", "#862e9c", "#495057"];

  function svg(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  const finite = (v) => typeof v === "number" && Number.isFinite(v);
  const fmt = (v) => (Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3))
    ? v.toExponential(1) : String(+v.toPrecision(3));

  // A scale over `values` onto [a, b]: ordinal (evenly spaced, one tick per value) for the
  // few values of a grid, else logarithmic when they are positive and span decades, else
  // linear.
  function scale(values, a, b) {
    const distinct = [...new Set(values)].sort((x, y) => x - y);
    if (distinct.length <= ORDINAL_MAX && distinct.length > 1) {
      const at = new Map(distinct.map((v, i) => [v, a + (i + 0.5) / distinct.length * (b - a)]));
      return { map: (v) => at.get(v), ticks: distinct, log: false };
    }
    let lo = Math.min(...values), hi = Math.max(...values);
    const log = lo > 0 && hi / lo >= 50;
    const f = log ? Math.log10 : (v) => v;
    let flo = f(lo), fhi = f(hi);
    if (flo === fhi) { flo -= 1; fhi += 1; }
    const map = (v) => a + (f(v) - flo) / (fhi - flo) * (b - a);
    let ticks = [];
    if (log) {
      for (let e = Math.ceil(flo); e <= Math.floor(fhi); e++) ticks.push(10 ** e);
    } else {
      const step0 = (fhi - flo) / 5, mag = 10 ** Math.floor(Math.log10(step0));
      const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0);
      for (let t = Math.ceil(flo / step) * step; t <= fhi + step * 1e-9; t += step) {
        ticks.push(+t.toPrecision(12));
      }
    }
    if (ticks.length < 2) ticks = [lo, hi];
    return { map, ticks, log };
  }

  // Colours for the values of a column: a palette for few distinct values, else a ramp.
  function colours(values) {
    const distinct = [...new Set(values.map(String))];
    if (distinct.length <= PALETTE.length) {
      const index = new Map(distinct.sort((x, y) => +x - +y || x.localeCompare(y))
        .map((v, i) => [v, i]));
      return { of: (v) => PALETTE[index.get(String(v))],
               legend: [...index.keys()].map((v) => [v, PALETTE[index.get(v)]]) };
    }
    const nums = values.filter(finite);
    const s = nums.length ? scale(nums, 0, 1) : null;
    // Twelve steps, so lines of one colour can share one path.
    const ramp = (t) => `hsl(${230 - 200 * Math.round(t * 11) / 11} 70% 45%)`;
    return { of: (v) => (s && finite(v) ? ramp(s.map(v)) : "#999"), legend: [] };
  }

  function axes(root, xs, ys, xLabel, yLabel) {
    for (const t of ys.ticks) {
      const y = ys.map(t);
      root.append(svg("line", { x1: M.l, x2: W - M.r, y1: y, y2: y, class: "grid" }));
      root.append(svg("text", { x: M.l - 4, y: y + 3, "text-anchor": "end" }, fmt(t)));
    }
    for (const t of xs.ticks) {
      const x = xs.map(t);
      root.append(svg("line", { x1: x, x2: x, y1: H - M.b, y2: H - M.b + 4, class: "axis" }));
      root.append(svg("text", { x, y: H - M.b + 14, "text-anchor": "middle" }, fmt(t)));
    }
    root.append(svg("line", { x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b, class: "axis" }));
    root.append(svg("line", { x1: M.l, x2: M.l, y1: M.t, y2: H - M.b, class: "axis" }));
    root.append(svg("text", { x: (M.l + W - M.r) / 2, y: H - 4, "text-anchor": "middle" },
      xLabel + (xs.log ? " (log)" : "")));
    root.append(svg("text", { x: 10, y: (M.t + H - M.b) / 2, "text-anchor": "middle",
      transform: `rotate(-90 10 ${(M.t + H - M.b) / 2})` }, yLabel + (ys.log ? " (log)" : "")));
  }

  function frame() {
    return svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img" });
  }

  function empty(root, why) {
    root.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, why));
    return root;
  }

  // points: [{x, y, c, title}] (title: a function, called when the pointer reaches the point,
  // so thousands of points cost no text up front); c coloured by its values.
  function scatter(points, { x, y, colour }) {
    const root = frame();
    const ok = points.filter((p) => finite(p.x) && finite(p.y));
    if (!ok.length) return empty(root, "no numeric values to plot");
    const xs = scale(ok.map((p) => p.x), M.l + 6, W - M.r - 6);
    const ys = scale(ok.map((p) => p.y), H - M.b - 6, M.t + 6);
    axes(root, xs, ys, x, y);
    const cs = colours(ok.map((p) => p.c));
    // Spread points of equal x a little, so a grid of configs does not stack into one dot.
    ok.forEach((p, k) => {
      const jitter = ((p.i * 7919) % 13 - 6) * 0.9;
      root.append(svg("circle", { cx: (xs.map(p.x) + jitter).toFixed(1),
        cy: ys.map(p.y).toFixed(1), r: 3.2, fill: cs.of(p.c), "fill-opacity": 0.75,
        class: "point", "data-k": k }));
    });
    // One listener for every point: its tooltip is made when the pointer first reaches it.
    root.addEventListener("mouseover", (ev) => {
      const dot = ev.target;
      if (dot.dataset && dot.dataset.k !== undefined && !dot.firstChild) {
        dot.append(svg("title", {}, ok[+dot.dataset.k].title()));
      }
    });
    legend(root, cs.legend, colour);
    return root;
  }

  function legend(root, entries, title) {
    if (!entries.length) return;
    let y = M.t + 4;
    root.append(svg("text", { x: W - M.r + 8, y, "font-weight": 600 }, title));
    for (const [value, colour] of entries) {
      y += 12;
      root.append(svg("circle", { cx: W - M.r + 12, cy: y - 3, r: 3.5, fill: colour }));
      root.append(svg("text", { x: W - M.r + 20, y }, value));
    }
  }

  // values: [{y, title}] in run order.
  function line(values, { y }) {
    const root = frame();
    const ok = values.map((v, i) => ({ ...v, i })).filter((v) => finite(v.y));
    if (!ok.length) return empty(root, "no numeric values to plot");
    const xs = scale(ok.map((v) => v.i + 1), M.l + 6, W - M.r - 6);
    const ys = scale(ok.map((v) => v.y), H - M.b - 6, M.t + 6);
    axes(root, xs, ys, "run", y);
    const d = ok.map((v, k) => `${k ? "L" : "M"}${xs.map(v.i + 1).toFixed(1)},` +
      `${ys.map(v.y).toFixed(1)}`).join("");
    root.append(svg("path", { d, fill: "none", stroke: PALETTE[0], "stroke-width": 1.2,
      class: "series" }));
    let best = Infinity;
    const bests = ok.filter((v) => (v.y < best ? ((best = v.y), true) : false));
    const b = bests.map((v, k) => `${k ? "L" : "M"}${xs.map(v.i + 1).toFixed(1)},` +
      `${ys.map(v.y).toFixed(1)}`).join("");
    root.append(svg("path", { d: b, fill: "none", stroke: PALETTE[1], "stroke-width": 1.5,
      "stroke-dasharray": "4 2" }));
    return root;
  }

  // rows: [{values: {axis: number}, c}]; one vertical axis per name in `names`; the lines of
  // one colour are drawn as one path (thousands of runs stay cheap).
  function parallel(rows, names, { colour }) {
    const root = frame();
    if (names.length < 2) return empty(root, "fewer than two varying numeric columns");
    const step = (W - M.l - M.r) / (names.length - 1);
    const scales = names.map((n) => {
      const vals = rows.map((r) => r.values[n]).filter(finite);
      return vals.length ? scale(vals, H - M.b, M.t + 10) : null;
    });
    const cs = colours(rows.map((r) => r.c));
    const byColour = new Map();
    for (const r of rows) {
      const pts = [];
      names.forEach((n, k) => {
        if (scales[k] && finite(r.values[n])) {
          pts.push(`${(M.l + k * step).toFixed(1)},${scales[k].map(r.values[n]).toFixed(1)}`);
        }
      });
      if (pts.length < 2) continue;
      const colour = cs.of(r.c);
      if (!byColour.has(colour)) byColour.set(colour, []);
      byColour.get(colour).push("M" + pts.join("L"));
    }
    for (const [colour, lines] of byColour) {
      root.append(svg("path", { d: lines.join(""), fill: "none", stroke: colour,
        "stroke-opacity": 0.45, class: "series", "data-lines": lines.length }));
    }
    names.forEach((n, k) => {
      const x = M.l + k * step, s = scales[k];
      root.append(svg("line", { x1: x, x2: x, y1: M.t + 10, y2: H - M.b, class: "axis" }));
      root.append(svg("text", { x, y: H - M.b + 14, "text-anchor": "middle" }, n));
      if (s) for (const t of [s.ticks[0], s.ticks[s.ticks.length - 1]]) {
        root.append(svg("text", { x: x + 3, y: s.map(t) + 3 }, fmt(t)));
      }
    });
    root.append(svg("text", { x: M.l, y: M.t, "font-weight": 600 }, `colour: ${colour}`));
    return root;
  }

  return { scatter, line, parallel };
})();
