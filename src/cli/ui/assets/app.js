// sweepstore ui: renders the pages from the server's JSON API and keeps them live by polling
// /api/version (a fingerprint of what the page shows) every two seconds; when it changes, the
// page's data is fetched again and re-rendered in place, without reloading the page.
// A task page's state (filter, state, sort, columns, result) lives in its URL's query.
"use strict";
(() => {
  const body = document.body, main = document.getElementById("main");
  const crumbs = document.getElementById("crumbs"), liveBadge = document.getElementById("live");
  const POLL_MS = 2000, SHOWN_ROWS = 500;

  // h("a", {href}, ...children): an element; strings become text nodes (never HTML).
  function h(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "class") node.className = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat()) if (kid !== null && kid !== undefined) {
      node.append(kid instanceof Node ? kid : String(kid));
    }
    return node;
  }
  const enc = encodeURIComponent;
  const runUrl = (task, key) => `/task/${enc(task)}/run/${key}`;

  async function api(path, params) {
    const query = new URLSearchParams(params || {}).toString();
    const reply = await fetch(path + (query ? "?" + query : ""), { credentials: "same-origin" });
    const data = await reply.json();
    if (!reply.ok) throw new Error(data.error || `HTTP ${reply.status}`);
    return data;
  }

  // The token has set the cookie; keep it out of the address bar (and screenshots).
  const here = new URL(location.href);
  if (here.searchParams.has("token")) {
    here.searchParams.delete("token");
    history.replaceState(null, "", here);
  }

  function live(task, refresh) {
    let last = null;
    const tick = async () => {
      try {
        const { version } = await api("/api/version", task ? { task } : {});
        if (last !== null && version !== last) await refresh();
        last = version;
        liveBadge.className = "on";
        liveBadge.textContent = "live · " + new Date().toLocaleTimeString();
      } catch (e) {
        liveBadge.className = "off";
        liveBadge.textContent = "not updating: " + e.message;
      }
      setTimeout(tick, POLL_MS);
    };
    tick();
  }

  // Replaces the page's content (arrays flattened, null left out).
  const show = (...kids) => main.replaceChildren(...kids.flat().filter((k) => k != null));

  function fail(e) {
    show(h("p", { class: "error" }, "could not load: " + e.message));
  }

  const stateCell = (s) => h("td", { class: "state-" + (s || "none") }, s || "-");

  // ---- the tasks page --------------------------------------------------------------------
  async function tasksPage() {
    crumbs.replaceChildren("tasks");
    const render = async () => {
      const tasks = await api("/api/tasks");
      if (!tasks.length) return show(h("p", { class: "muted" }, "no runs yet"));
      const states = ["finished", "running", "failed", "-"];
      show(h("h1", {}, "Tasks"), h("table", { class: "grid", id: "tasks" },
        h("tr", {}, h("th", {}, "task"), h("th", {}, "runs"), states.map((s) => h("th", {}, s))),
        tasks.map((t) => h("tr", {},
          h("td", {}, h("a", { href: `/task/${enc(t.name)}` }, t.name)),
          h("td", { class: "num" }, t.runs),
          states.map((s) => h("td", { class: "num state-" + s }, t.states[s] || 0))))));
    };
    await render().catch(fail);
    live(null, () => render().catch(fail));
  }

  // ---- a task's page: table + plots -----------------------------------------------------
  async function taskPage(task) {
    crumbs.replaceChildren(h("a", { href: "/" }, "tasks"), " / ", task);
    const params = new URL(location.href).searchParams;
    const view = {};
    for (const k of ["where", "state", "sort", "columns", "result"]) view[k] = params.get(k) || "";
    let table = null, showAll = false;
    const plotChoice = {};

    const save = () => {
      const url = new URL(location.href);
      for (const [k, v] of Object.entries(view)) {
        if (v) url.searchParams.set(k, v); else url.searchParams.delete(k);
      }
      history.replaceState(null, "", url);
    };
    const load = async () => {
      const query = { task };
      for (const [k, v] of Object.entries(view)) if (v) query[k] = v;
      try {
        table = await api("/api/table", query);
        table.problem = null;
      } catch (e) {
        table = { ...(table || { columns: [], rows: [], constant: [], all_columns: [] }),
                  problem: e.message };
      }
      render();
    };

    const form = h("form", { class: "controls", id: "controls" });
    const whereBox = h("input", { type: "text", name: "where", value: view.where,
      placeholder: "filter, e.g. lr>=0.01 val_loss<0.5 opt=adam,sgd" });
    const stateBox = h("select", { name: "state" },
      ["", "finished", "running", "failed"].map((s) =>
        h("option", { value: s, selected: s === view.state }, s || "any state")));
    const resultBox = h("input", { type: "text", name: "result", size: 10,
      value: view.result, placeholder: "metrics" });
    form.append(h("label", {}, "where ", whereBox), stateBox,
      h("label", {}, "result ", resultBox), h("button", { type: "submit" }, "apply"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      view.where = whereBox.value.trim();
      view.state = stateBox.value;
      view.result = resultBox.value.trim();
      save();
      load();
    });

    function sortBy(name) {
      const now = table.sorted;
      view.sort = now && now.column === name && !now.descending ? "-" + name : name;
      save();
      load();
    }

    function render() {
      const status = h("p", { id: "status", class: table.problem ? "error" : "muted" },
        table.problem ? table.problem
          : `${table.matched} of ${table.total} runs` +
            (table.matched > SHOWN_ROWS && !showAll ? ` (first ${SHOWN_ROWS} shown) ` : " "));
      if (!table.problem && table.matched > SHOWN_ROWS && !showAll) {
        status.append(h("button", { type: "button", onclick: () => { showAll = true; render(); } },
          "show all"));
      }
      const picker = h("details", { class: "columns" }, h("summary", {}, "columns"),
        table.all_columns.map((c) => h("label", {}, h("input", { type: "checkbox", value: c,
          checked: table.columns.some((x) => x.name === c),
          onchange: () => {
            view.columns = [...picker.querySelectorAll("input:checked")].map((i) => i.value)
              .join(",");
            save();
            load();
          } }), " " + c)));
      const constants = table.constant.length
        ? h("div", { class: "constants" }, "same in every run: ",
          table.constant.map((c) => `${c.name}=${JSON.stringify(c.value)}`).join("  "))
        : null;
      const sortName = table.sorted ? table.sorted.column : null;
      const sortDesc = table.sorted ? table.sorted.descending : false;
      const damaged = table.rows.filter((r) => r.problem);
      const problems = damaged.length ? h("details", { class: "error", id: "problems" },
        h("summary", {}, `${damaged.length} runs have no readable ${table.result}`),
        h("ul", {}, damaged.slice(0, 50).map((r) => h("li", {},
          h("a", { href: runUrl(task, r.run_key) }, r.run_key.slice(0, 12)), ": " + r.problem))))
        : null;
      const head = h("tr", {}, h("th", {}, "run"), table.columns.map((c) => h("th", {
        class: `${c.group} ${c.name === sortName ? "sorted " + (sortDesc ? "desc" : "asc") : ""}`,
        title: `sort by ${c.name}`, "data-column": c.name, onclick: () => sortBy(c.name),
      }, c.name)));
      const rows = showAll ? table.rows : table.rows.slice(0, SHOWN_ROWS);
      const grid = h("table", { class: "grid", id: "runs" }, h("thead", {}, head),
        h("tbody", {}, rows.map((r) => h("tr", { "data-run": r.run_key },
          h("td", {}, h("a", { href: runUrl(task, r.run_key) }, r.run_key.slice(0, 12))),
          r.cells.map((v, i) => table.columns[i].name === "state" ? stateCell(v)
            : h("td", { class: typeof v === "number" ? "num" : "" }, cellText(v)))))));
      show(h("h1", {}, task), form, status, problems, picker, constants,
        h("div", { class: "tablewrap" }, grid), h("h2", {}, "Plots"), plots());
    }

    function cellText(v) {
      if (v === null || v === undefined) return "";
      if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(+v.toPrecision(6));
      return typeof v === "string" ? v : JSON.stringify(v);
    }

    // Plots over every matching run (not only the rows shown).
    function plots() {
      const numeric = (group) => table.columns.filter((c) => c.group === group && c.numeric);
      const params = numeric("config"), metrics = numeric("result");
      const anyParams = table.columns.filter((c) => c.group === "config");
      const index = new Map(table.columns.map((c, i) => [c.name, i]));
      const value = (r, name) => r.cells[index.get(name)];
      const title = (r) => table.columns.map((c, i) => `${c.name}=${cellText(r.cells[i])}`)
        .join(" ");
      const pick = (key, options, fallback) => {
        if (!options.includes(plotChoice[key])) plotChoice[key] = fallback;
        return plotChoice[key];
      };
      const names = (cols) => cols.map((c) => c.name);
      const sortName = table.sorted ? table.sorted.column : "";
      const defaultMetric = names(metrics).includes(sortName) ? sortName : names(metrics)[0];
      const select = (key, options) => h("select", { "data-plot": key,
        onchange: (ev) => { plotChoice[key] = ev.target.value; render(); } },
        options.map((o) => h("option", { value: o, selected: o === plotChoice[key] }, o)));
      if (!metrics.length || !anyParams.length) {
        return h("p", { class: "muted" }, "plots need a numeric field of a json result " +
          "and a varying config key (choose the result above)");
      }
      const y = pick("y", names(metrics), defaultMetric);
      const x = pick("x", names(params), names(params)[0]);
      const colour = pick("colour", names(anyParams), names(anyParams)[1] || names(anyParams)[0]);
      const scatter = Plots.scatter(table.rows.map((r, i) => ({ x: value(r, x), y: value(r, y),
        c: value(r, colour), i, title: () => title(r) })), { x, y, colour });
      const byRun = Plots.line(table.rows_in_run_order.map((i) => ({
        y: value(table.rows[i], y) })), { y });
      const axes = [...names(params), y];
      const parallel = Plots.parallel(table.rows.map((r) => ({
        values: Object.fromEntries(axes.map((a) => [a, value(r, a)])), c: value(r, y) })),
        axes, { colour: y });
      return h("div", { class: "plots" },
        h("div", { class: "plot", id: "plot-scatter" }, h("div", { class: "controls" },
          "y ", select("y", names(metrics)), " x ", select("x", names(params)),
          " colour ", select("colour", names(anyParams))), scatter),
        h("div", { class: "plot", id: "plot-runs" }, h("div", { class: "controls" },
          `${y} over runs (${table.times_known ? "in the order they were created"
            : "by run key: this store recorded no creation times"}; dashed: best so far)`),
          byRun),
        h("div", { class: "plot", id: "plot-parallel" }, h("div", { class: "controls" },
          "parallel coordinates over the varying params"), parallel));
    }

    await load();
    live(task, load);
  }

  // ---- a run's page -----------------------------------------------------------------------
  async function runPage(task, key) {
    crumbs.replaceChildren(h("a", { href: "/" }, "tasks"), " / ",
      h("a", { href: `/task/${enc(task)}` }, task), " / ", key.slice(0, 12));
    const render = async () => {
      const run = await api("/api/run", { task, run: key });
      const facts = h("dl", { class: "facts" },
        h("dt", {}, "run key"), h("dd", {}, run.run_key),
        h("dt", {}, "state"), h("dd", { class: "state-" + run.state }, run.state || "-"),
        Object.entries(run.times || {}).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "unknown")]));
      const results = run.results.map((r) => {
        const raw = `/raw/${enc(task)}/${key}/${enc(r.name)}`;
        const s = r.show;
        let content;
        if (s.error !== undefined) {
          content = h("p", { class: "error damaged" }, `result \`${r.name}\` could not be read: ${s.error}`);
        } else if (s.json !== undefined) {
          content = h("pre", { class: "json" }, s.json);
        } else if (s.text !== undefined) {
          content = h("pre", { class: "text" }, s.skipped ? `… (${s.skipped} bytes before)\n` : "",
            s.text);
        } else if (s.image !== undefined) {
          content = h("img", { src: raw, alt: r.name });
        } else {
          content = h("p", {}, h("a", { href: raw + "?download", download: r.name },
            `download ${r.name}`));
        }
        return h("section", { class: "result", "data-result": r.name }, h("h3", {}, r.name),
          h("div", { class: "meta" }, `${r.type} · ${r.size} bytes · blake3 ${r.hash || "(none recorded)"}`),
          content);
      });
      const scrolls = [...main.querySelectorAll("pre.text")].map((p) =>
        p.scrollTop + p.clientHeight >= p.scrollHeight - 4);
      show(h("h1", {}, `${task} · run ${key.slice(0, 12)}`), facts,
        h("h2", {}, "Config"), h("pre", { class: "config" }, JSON.stringify(run.config, null, 2)),
        h("h2", {}, "Results"), results.length ? results : h("p", { class: "muted" }, "none yet"));
      // Keep a log scrolled to its end (as `tail -f` does) unless the reader scrolled up.
      main.querySelectorAll("pre.text").forEach((p, i) => {
        if (scrolls[i] !== false) p.scrollTop = p.scrollHeight;
      });
    };
    await render().catch(fail);
    live(task, () => render().catch(fail));
  }

  const page = body.dataset.page;
  if (page === "tasks") tasksPage();
  else if (page === "task") taskPage(body.dataset.task);
  else if (page === "run") runPage(body.dataset.task, body.dataset.run);
})();
