// hone dashboard: one page, routed by the address's #fragment. It fetches JSON from the server (which
// builds every chart's ECharts option with the same code as the static --html reports) and draws with
// ECharts. Text from a study, a model or a log is only ever set as text (never as HTML).
// A page subscribes to its topic over server-sent events and redraws in place when the server says the
// data changed. `document.documentElement.dataset.rendered` counts finished renders (tests and the
// benchmark wait on it).

const main = document.getElementById('main');
const liveEl = document.getElementById('live');
let info = { storage: null, logs: null, writable: false, canWrite: false };
/** What the current page holds: its charts (id → ECharts instance), its event source, its redraw. */
let page = { charts: new Map(), source: null, redraw: null, token: 0 };

// ---- Small helpers ----

/** An element with attributes and children (strings become text nodes). */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) e.append(c instanceof Node ? c : String(c));
  return e;
}

function fmt(v) {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'number') return String(v);
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(4) : String(Number(v.toPrecision(6)));
}

function bytes(n) {
  if (n === null || n === undefined) return '';
  const u = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}

function when(ms) {
  return ms ? new Date(ms).toLocaleString() : '';
}

async function api(path) {
  const r = await fetch(path, { credentials: 'same-origin', headers: { accept: 'application/json' } });
  const body = await r.json().catch(() => ({ error: `${r.status} ${r.statusText}` }));
  if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
  return body;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) for (const x of [].concat(v)) q.append(k, x);
  return q.toString();
}

function showError(e) {
  main.replaceChildren(el('p', { class: 'error' }, String(e.message || e)));
  markRendered();
}

/** A failed redraw of one part of a page: said in the header's status, the page stays. */
function showTrouble(e) {
  setLive(false, String(e.message || e));
}

function markRendered() {
  performance.mark('hone:rendered');
  const n = Number(document.documentElement.dataset.rendered || 0) + 1;
  document.documentElement.dataset.rendered = String(n);
}

// ---- Charts ----

/** Draws (or redraws in place) each chart spec into `container`, keyed by the spec's id. */
function drawCharts(container, specs) {
  const wanted = new Set(specs.map((s) => s.id));
  for (const [id, chart] of page.charts) {
    if (!wanted.has(id) && container.contains(chart.getDom())) {
      chart.dispose();
      chart.getDom().parentElement.remove();
      page.charts.delete(id);
    }
  }
  const done = [];
  for (const spec of specs) {
    let chart = page.charts.get(spec.id);
    if (!chart) {
      const box = el('section', { class: 'chart-box' }, el('div', { class: 'chart-title' }, spec.title));
      const div = el('div', { class: 'chart', 'data-chart': spec.id });
      div.style.height = `${spec.height}px`;
      box.append(div);
      container.append(box);
      chart = echarts.init(div, null, { renderer: 'canvas' });
      page.charts.set(spec.id, chart);
    } else {
      chart.getDom().previousSibling.textContent = spec.title;
    }
    done.push(
      new Promise((r) => {
        chart.off('finished');
        chart.on('finished', () => r());
      }),
    );
    chart.setOption(spec.option, { notMerge: true, lazyUpdate: false });
  }
  return Promise.race([Promise.all(done), new Promise((r) => setTimeout(r, 3000))]);
}

window.addEventListener('resize', () => {
  for (const c of page.charts.values()) c.resize();
});

// ---- Live updates ----

function subscribe(topic, redraw) {
  page.redraw = redraw;
  const source = new EventSource(`/api/events?${query({ topic })}`);
  page.source = source;
  source.addEventListener('hello', () => setLive(true));
  source.addEventListener('change', async () => {
    if (page.source !== source) return;
    try {
      await redraw();
    } catch (e) {
      setLive(false, String(e.message || e));
    }
  });
  source.onerror = () => setLive(false);
}

function setLive(on, why) {
  liveEl.className = `live ${on ? 'on' : 'off'}`;
  liveEl.textContent = on ? `live · updated ${new Date().toLocaleTimeString()}` : why || 'not live (reconnecting)';
}

function leavePage() {
  page.source?.close();
  for (const c of page.charts.values()) c.dispose();
  page = { charts: new Map(), source: null, redraw: null, token: page.token + 1 };
}

// ---- Pages ----

async function overview() {
  const token = page.token;
  const root = el('div');
  main.replaceChildren(root);
  const draw = async () => {
    const [studies, logs] = await Promise.all([
      info.storage ? api('/api/studies') : { studies: [] },
      info.logs ? api('/api/logs') : { files: [] },
    ]);
    if (token !== page.token) return;
    root.replaceChildren(...overviewContent(studies.studies, logs.files));
    setLive(true);
    markRendered();
  };
  await draw();
  if (info.storage && info.logs) {
    // Two topics: studies through the server's study poll, files through its folder scan.
    subscribe('studies', draw);
    const second = new EventSource(`/api/events?${query({ topic: 'logs' })}`);
    second.addEventListener('change', () => draw().catch(showError));
    const first = page.source;
    page.source = {
      close: () => {
        first.close();
        second.close();
      },
    };
  } else subscribe(info.storage ? 'studies' : 'logs', draw);
}

function overviewContent(studies, files) {
  const out = [el('h1', {}, 'Overview')];
  out.push(
    el(
      'dl',
      {},
      el('dt', {}, 'storage'),
      el('dd', {}, info.storage || 'none (start with --storage URL)'),
      el('dt', {}, 'logs folder'),
      el('dd', {}, info.logs || 'none (start with --logs DIR)'),
    ),
  );
  if (info.storage) {
    out.push(el('h2', {}, `Studies (${studies.length})`));
    if (!studies.length) out.push(el('p', { class: 'note' }, 'No studies yet; this page updates when hone tune creates one.'));
    else
      out.push(
        table(
          ['study', 'objectives', 'trials', 'complete', 'pruned', 'failed', 'running', 'best', 'last activity'],
          studies.map((s) => ({
            cells: [
              el('a', { href: `#/study/${encodeURIComponent(s.name)}` }, s.name),
              s.directions.join(', '),
              s.nTrials,
              s.states.complete,
              s.states.pruned,
              s.states.fail,
              s.states.running + s.states.waiting,
              s.directions.length > 1 ? `${s.front} on the front` : s.bestValue === null ? '' : `${fmt(s.bestValue)} (#${s.bestTrial})`,
              when(s.lastActivity),
            ],
            sort: [
              s.name,
              s.directions.join(),
              s.nTrials,
              s.states.complete,
              s.states.pruned,
              s.states.fail,
              s.states.running,
              s.bestValue,
              s.lastActivity,
            ],
          })),
          { right: [false, false, true, true, true, true, true, true, false], id: 'studies' },
        ),
      );
  }
  if (info.logs) {
    const runs = files.filter((f) => f.kind === 'run');
    const reports = files.filter((f) => f.kind !== 'run');
    out.push(el('h2', {}, `Training runs (${runs.length})`));
    if (!runs.length) out.push(el('p', { class: 'note' }, 'No training logs (hone train --log FILE) in this folder yet.'));
    else out.push(pickList(runs, 'run', (paths) => `#/runs?${query({ file: paths })}`, 'Show curves of the selected runs'));
    out.push(el('h2', {}, `Reports (${reports.length})`));
    if (!reports.length)
      out.push(
        el(
          'p',
          { class: 'note' },
          'No reports yet: save one with hone profile MODEL --json > profile.json (or quantize, optimize, lr-find, study show).',
        ),
      );
    else {
      out.push(pickList(reports, 'report', (paths) => `#/reports?${query({ file: paths })}`, 'Open the selected reports side by side'));
      const profiles = reports.filter((f) => f.kind === 'profile');
      if (profiles.length >= 2) {
        const a = el(
          'select',
          { 'aria-label': 'profile A' },
          profiles.map((p) => el('option', { value: p.path }, p.path)),
        );
        const b = el(
          'select',
          { 'aria-label': 'profile B' },
          profiles.map((p) => el('option', { value: p.path }, p.path)),
        );
        b.selectedIndex = 1;
        out.push(
          el(
            'div',
            { class: 'controls' },
            el('label', {}, 'Compare two profiles: A'),
            a,
            el('label', {}, 'B'),
            b,
            el('button', { onclick: () => (location.hash = `#/compare?${query({ a: a.value, b: b.value })}`) }, 'Compare'),
          ),
        );
      }
    }
  }
  return out;
}

/** A table of files with a checkbox each and a button that opens the selected ones. */
function pickList(files, what, target, label) {
  const boxes = [];
  const rows = files.map((f) => {
    const box = el('input', { type: 'checkbox', value: f.path, 'aria-label': `select ${f.path}` });
    boxes.push(box);
    return {
      cells: [box, el('a', { href: target([f.path]) }, f.path), f.kind, f.label, bytes(f.bytes), when(f.mtimeMs)],
      sort: [0, f.path, f.kind, f.label, f.bytes, f.mtimeMs],
    };
  });
  const button = el(
    'button',
    {
      onclick: () => {
        const picked = boxes.filter((b) => b.checked).map((b) => b.value);
        if (picked.length) location.hash = target(picked);
      },
    },
    label,
  );
  return el(
    'div',
    {},
    table(['', what, 'kind', 'about', 'size', 'modified'], rows, { right: [false, false, false, false, true, false], id: `${what}s` }),
    button,
  );
}

/**
 * A sortable table: rows are { cells, sort, cls?, onclick? }; a header click sorts by that column
 * (numbers as numbers), again for descending.
 */
function table(header, rows, o = {}) {
  const t = el('table', { class: 'sortable', 'data-table': o.id });
  const body = el('tbody');
  let sortCol = -1;
  let asc = true;
  const ths = header.map((h, i) =>
    el(
      'th',
      {
        class: o.right?.[i] ? 'n' : undefined,
        onclick: () => {
          asc = sortCol === i ? !asc : true;
          sortCol = i;
          ths.forEach((th, j) => {
            th.classList.toggle('asc', j === i && asc);
            th.classList.toggle('desc', j === i && !asc);
          });
          fill();
        },
      },
      h,
    ),
  );
  t.append(el('thead', {}, el('tr', {}, ths)), body);
  const fill = () => {
    const sorted = [...rows];
    if (sortCol >= 0)
      sorted.sort((x, y) => {
        const a = x.sort?.[sortCol];
        const b = y.sort?.[sortCol];
        if (a === b) return 0;
        if (a === null || a === undefined) return 1;
        if (b === null || b === undefined) return -1;
        const c = typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b));
        return asc ? c : -c;
      });
    body.replaceChildren(
      ...sorted.map((r) =>
        el(
          'tr',
          { class: r.cls, onclick: r.onclick },
          r.cells.map((c, i) => el('td', { class: o.right?.[i] ? 'n' : undefined }, c)),
        ),
      ),
    );
  };
  fill();
  return t;
}

// ---- A study ----

const TRIALS_PER_PAGE = 100;

async function studyPage(name) {
  const token = page.token;
  const state = {
    filter: '',
    stateFilter: 'all',
    sortKey: 'number',
    asc: true,
    pageNo: 0,
    slice: null,
    cx: null,
    cy: null,
    open: new Set(),
  };
  const head = el('div');
  const chartsBox = el('div');
  const extra = el('div');
  const trialsBox = el('div');
  main.replaceChildren(el('p', {}, el('a', { href: '#/' }, '← Overview')), head, chartsBox, extra, trialsBox);
  let last = null;
  const draw = async () => {
    const picks = {};
    if (state.slice) picks.slice = state.slice;
    if (state.cx) picks.x = state.cx;
    if (state.cy) picks.y = state.cy;
    const d = await api(`/api/study?${query({ name, ...picks })}`);
    if (token !== page.token) return;
    performance.mark('hone:data');
    last = d;
    head.replaceChildren(...studyHead(d));
    const pending = [drawCharts(chartsBox, d.charts), drawExtra(extra, d, state, name)];
    renderTrials(trialsBox, d, state);
    await Promise.all(pending);
    setLive(true);
    markRendered();
  };
  await draw();
  subscribe(`study:${name}`, draw);
  return last;
}

function studyHead(d) {
  const s = d.summary;
  const rows = [
    ['objectives', s.directions.join(', ')],
    [
      'trials',
      `${s.nTrials} (${
        Object.entries(s.states)
          .filter((e) => e[1])
          .map(([k, v]) => `${v} ${k}`)
          .join(', ') || 'none'
      })`,
    ],
  ];
  if (s.bestValue !== null) rows.push(['best', `${fmt(s.bestValue)} (trial ${s.bestTrial})`]);
  if (s.bestParams)
    rows.push([
      'best parameters',
      Object.entries(s.bestParams)
        .map(([k, v]) => `${k}=${fmt(v)}`)
        .join(', '),
    ]);
  if (s.directions.length > 1) rows.push(['Pareto front', `${s.bestTrials.length} trials`]);
  const out = [
    el('h1', {}, `Study ${s.study}`),
    el(
      'dl',
      {},
      rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]),
    ),
  ];
  const links = el(
    'p',
    {},
    el('a', { href: `/view/study?${query({ name: s.study })}`, target: '_blank', rel: 'noopener' }, 'Static page of this study'),
  );
  if (info.canWrite)
    links.append(
      ' ',
      el(
        'button',
        {
          class: 'danger',
          onclick: async () => {
            if (!confirm(`Delete study ${s.study} and all its trials? This cannot be undone.`)) return;
            const r = await fetch(`/api/study?${query({ name: s.study })}`, { method: 'DELETE', credentials: 'same-origin' });
            const body = await r.json().catch(() => ({}));
            if (!r.ok) alert(body.error || r.statusText);
            else location.hash = '#/';
          },
        },
        'Delete study',
      ),
    );
  out.push(links);
  return out;
}

/** The slice and contour charts (drawn from the study's answer), with their parameter pickers. */
async function drawExtra(box, d, state, name) {
  if (!d.params.length) {
    box.replaceChildren();
    return;
  }
  state.slice = d.picks.slice;
  state.cx = d.picks.x;
  state.cy = d.picks.y;
  // The controls and chart elements are built once; redraws only change the charts.
  if (!box.dataset.built) {
    box.dataset.built = '1';
    const picker = (value, onchange, label) =>
      el(
        'select',
        { 'aria-label': label, onchange: (e) => onchange(e.target.value) },
        d.params.map((p) => el('option', { value: p, selected: p === value }, p)),
      );
    const sliceCharts = el('div');
    const contourCharts = el('div');
    const contourNote = el('p', { class: 'note' });
    const redrawSlice = async () => {
      const spec = await api(`/api/study/slice?${query({ name, param: state.slice })}`);
      await drawCharts(sliceCharts, [{ ...spec, id: 'slice' }]);
    };
    const redrawContour = async () => {
      if (state.cx === state.cy) {
        contourNote.textContent = 'Pick two different parameters.';
        return;
      }
      contourNote.textContent = '';
      const spec = await api(`/api/study/contour?${query({ name, x: state.cx, y: state.cy })}`);
      await drawCharts(contourCharts, [{ ...spec, id: 'contour-pick' }]);
    };
    box.replaceChildren(
      el('h2', {}, 'Slice'),
      el(
        'div',
        { class: 'controls' },
        el('label', {}, 'parameter'),
        picker(
          state.slice,
          (v) => {
            state.slice = v;
            redrawSlice().catch(showTrouble);
          },
          'slice parameter',
        ),
      ),
      sliceCharts,
    );
    if (d.params.length > 1)
      box.append(
        el('h2', {}, 'Contour'),
        el(
          'div',
          { class: 'controls' },
          el('label', {}, 'x'),
          picker(
            state.cx,
            (v) => {
              state.cx = v;
              redrawContour().catch(showTrouble);
            },
            'contour x',
          ),
          el('label', {}, 'y'),
          picker(
            state.cy,
            (v) => {
              state.cy = v;
              redrawContour().catch(showTrouble);
            },
            'contour y',
          ),
        ),
        contourNote,
        contourCharts,
      );
    box._slice = sliceCharts;
    box._contour = contourCharts;
  }
  const jobs = [];
  if (d.slice) jobs.push(drawCharts(box._slice, [{ ...d.slice, id: 'slice' }]));
  if (d.contour) jobs.push(drawCharts(box._contour, [{ ...d.contour, id: 'contour-pick' }]));
  await Promise.all(jobs);
}

function valueText(t) {
  return t.values ? t.values.map(fmt).join(', ') : '';
}

function renderTrials(box, d, state) {
  const params = d.params;
  const best = d.summary.bestTrial;
  const front = new Set(d.summary.bestTrials.map((t) => t.number));
  const text = (t) =>
    `#${t.number} ${t.state} ${valueText(t)} ${Object.entries(t.params)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')} ${t.failReason || t.pruneReason || ''}`.toLowerCase();
  const rows = d.trials.filter(
    (t) =>
      (state.stateFilter === 'all' || t.state === state.stateFilter) && (!state.filter || text(t).includes(state.filter.toLowerCase())),
  );
  const key = (t) => {
    if (state.sortKey === 'number') return t.number;
    if (state.sortKey === 'state') return t.state;
    if (state.sortKey === 'value') return t.values ? t.values[0] : null;
    if (state.sortKey === 'duration') return t.durationS;
    return t.params[state.sortKey.slice(6)];
  };
  rows.sort((x, y) => {
    const a = key(x);
    const b = key(y);
    if (a === b) return x.number - y.number;
    if (a === null || a === undefined) return 1;
    if (b === null || b === undefined) return -1;
    const c = typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b));
    return state.asc ? c : -c;
  });
  const pages = Math.max(1, Math.ceil(rows.length / TRIALS_PER_PAGE));
  state.pageNo = Math.min(state.pageNo, pages - 1);
  const shown = rows.slice(state.pageNo * TRIALS_PER_PAGE, (state.pageNo + 1) * TRIALS_PER_PAGE);
  const rerender = () => renderTrials(box, d, state);
  const columns = [
    ['number', '#', true],
    ['state', 'state', false],
    ['value', d.summary.directions.length > 1 ? 'values' : 'value', true],
    ['duration', 'duration (s)', true],
    ...params.map((p) => [`param:${p}`, p, true]),
  ];
  const head = el(
    'tr',
    {},
    columns.map(([k, label, right]) =>
      el(
        'th',
        {
          class: [right ? 'n' : '', state.sortKey === k ? (state.asc ? 'asc' : 'desc') : ''].join(' ').trim() || undefined,
          onclick: () => {
            state.asc = state.sortKey === k ? !state.asc : true;
            state.sortKey = k;
            rerender();
          },
        },
        label,
      ),
    ),
    el('th', {}, 'why failed or pruned'),
  );
  const body = el('tbody');
  for (const t of shown) {
    const cls = [t.number === best || front.has(t.number) ? 'best' : '', 'clickable'].join(' ');
    body.append(
      el(
        'tr',
        {
          class: cls,
          'data-trial': t.number,
          onclick: () => {
            if (state.open.has(t.number)) state.open.delete(t.number);
            else state.open.add(t.number);
            rerender();
          },
        },
        el('td', { class: 'n' }, t.number),
        el('td', { class: `st-${t.state}` }, t.state),
        el('td', { class: 'n' }, valueText(t)),
        el('td', { class: 'n' }, t.durationS === null ? '' : t.durationS.toFixed(2)),
        params.map((p) => el('td', { class: 'n' }, fmt(t.params[p]))),
        el('td', { class: `st-${t.state}` }, t.failReason || t.pruneReason || ''),
      ),
    );
    if (state.open.has(t.number)) body.append(el('tr', { class: 'detail' }, el('td', { colspan: columns.length + 1 }, trialDetail(t, d))));
  }
  const filterBox = el('input', {
    type: 'search',
    placeholder: 'filter: text in a row, e.g. lr=0.01 or fail',
    value: state.filter,
    'aria-label': 'filter trials',
    size: 36,
    oninput: (e) => {
      state.filter = e.target.value;
      state.pageNo = 0;
      rerender();
      box.querySelector('input[type=search]').focus();
    },
  });
  const stateSel = el(
    'select',
    {
      'aria-label': 'trial state',
      onchange: (e) => {
        state.stateFilter = e.target.value;
        state.pageNo = 0;
        rerender();
      },
    },
    ['all', 'complete', 'pruned', 'fail', 'running', 'waiting'].map((s) =>
      el('option', { value: s, selected: s === state.stateFilter }, s),
    ),
  );
  const pager = el(
    'div',
    { class: 'pager' },
    el(
      'button',
      {
        disabled: state.pageNo === 0,
        onclick: () => {
          state.pageNo -= 1;
          rerender();
        },
      },
      '‹ previous',
    ),
    el('span', { 'data-pager': '' }, `page ${state.pageNo + 1} of ${pages} · ${rows.length} of ${d.trials.length} trials`),
    el(
      'button',
      {
        disabled: state.pageNo >= pages - 1,
        onclick: () => {
          state.pageNo += 1;
          rerender();
        },
      },
      'next ›',
    ),
  );
  const caret = filterBox.value.length;
  box.replaceChildren(
    el('h2', {}, 'Trials'),
    el('div', { class: 'controls' }, el('label', {}, 'state'), stateSel, filterBox),
    pager,
    el('div', { class: 'trials-wrap' }, el('table', { class: 'sortable', 'data-table': 'trials' }, el('thead', {}, head), body)),
  );
  filterBox.setSelectionRange?.(caret, caret);
}

function trialDetail(t, d) {
  const rows = [
    ['parameters', JSON.stringify(t.params)],
    ['intermediate values', `${t.steps} reported`],
  ];
  if (Object.keys(t.userAttrs).length) rows.push(['user attributes', JSON.stringify(t.userAttrs)]);
  if (t.failReason) rows.push(['fail reason', t.failReason]);
  if (t.pruneReason) rows.push(['pruned because', t.pruneReason]);
  const out = el(
    'div',
    {},
    el(
      'dl',
      {},
      rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]),
    ),
  );
  if (t.stderrTail) out.append(el('div', { class: 'note' }, 'stderr (last lines)'), el('pre', {}, t.stderrTail));
  if (info.canWrite && (t.state === 'running' || t.state === 'waiting')) out.append(markControls(t, d));
  return out;
}

/** Mark a running or waiting trial failed (its worker died) or complete with values given by hand. */
function markControls(t, d) {
  const n = d.summary.directions.length;
  const values = el('input', {
    type: 'text',
    size: 18,
    'aria-label': 'trial values',
    placeholder: n > 1 ? `${n} values, comma-separated` : 'value',
  });
  const said = el('span', { class: 'note' });
  const mark = async (state) => {
    const q = { study: d.summary.study, number: t.number, state };
    if (state === 'complete') q.values = values.value;
    const r = await fetch(`/api/trial?${query(q)}`, { method: 'POST', credentials: 'same-origin' });
    const body = await r.json().catch(() => ({}));
    said.textContent = r.ok ? `marked ${state}` : body.error || r.statusText;
  };
  const stop = (e) => e.stopPropagation();
  return el(
    'div',
    { class: 'controls', onclick: stop },
    el('button', { class: 'danger', onclick: () => mark('fail') }, 'Mark failed'),
    values,
    el('button', { onclick: () => mark('complete') }, 'Mark complete'),
    said,
  );
}

// ---- Training runs ----

async function runsPage(files) {
  const token = page.token;
  const head = el('div');
  const chartsBox = el('div');
  main.replaceChildren(el('p', {}, el('a', { href: '#/' }, '← Overview')), head, chartsBox);
  const draw = async () => {
    const d = await api(`/api/runs?${query({ file: files })}`);
    if (token !== page.token) return;
    head.replaceChildren(
      el('h1', {}, files.length > 1 ? `${files.length} training runs` : `Training run ${files[0]}`),
      table(
        ['run', 'model', 'data', 'settings', 'epochs', 'last train loss', 'last validation accuracy', 'samples/s', 'skipped lines'],
        d.runs.map((r) => ({
          cells: [
            r.path,
            r.model ?? '',
            r.data ?? '',
            r.settings,
            r.epochs,
            fmt(r.last?.trainLoss),
            fmt(r.last?.valAccuracy ?? r.last?.testAccuracy),
            fmt(r.last?.samplesPerSec),
            r.skipped
              ? el('span', { class: 'warn', title: 'lines that are not epoch records (corrupt or cut off)' }, `${r.skipped} skipped`)
              : '0',
          ],
          sort: [r.path, r.model, r.data, r.settings, r.epochs, r.last?.trainLoss, r.last?.valAccuracy, r.last?.samplesPerSec, r.skipped],
        })),
        { right: [false, false, false, false, true, true, true, true, true], id: 'runs' },
      ),
    );
    await drawCharts(chartsBox, d.charts);
    setLive(true);
    markRendered();
  };
  await draw();
  subscribe('logs', draw);
}

// ---- Reports ----

function reportsPage(files) {
  main.replaceChildren(
    el('p', {}, el('a', { href: '#/' }, '← Overview')),
    el('h1', {}, files.length > 1 ? 'Reports side by side' : `Report ${files[0]}`),
    el(
      'div',
      { class: files.length > 1 ? 'side' : '' },
      files.map((f) =>
        el(
          'div',
          {},
          files.length > 1 ? el('div', { class: 'chart-title' }, f) : null,
          el('iframe', {
            class: files.length > 1 ? undefined : 'one',
            src: `/view/report?${query({ file: f })}`,
            title: f,
            sandbox: 'allow-scripts',
          }),
        ),
      ),
    ),
  );
  // A stored report is a fixed file: redraw the frames when the folder changes (a report rewritten).
  subscribe('logs', async () => {
    for (const f of main.querySelectorAll('iframe')) f.contentWindow?.location.reload();
    markRendered();
  });
  markRendered();
}

async function comparePage(a, b) {
  const token = page.token;
  const head = el('div');
  const chartsBox = el('div');
  main.replaceChildren(el('p', {}, el('a', { href: '#/' }, '← Overview')), head, chartsBox);
  const draw = async () => {
    const d = await api(`/api/compare?${query({ a, b })}`);
    if (token !== page.token) return;
    const side = (x) =>
      `${x.model} (${x.path}; ${x.settings.provider}, ${x.settings.threads || "ORT's default"} threads; verdict ${x.verdict ?? 'none'})`;
    const unit = (r, v) => (v === null ? '—' : r.unit === 'bytes' ? bytes(v) : `${fmt(v)}${r.unit ? ` ${r.unit}` : ''}`);
    head.replaceChildren(
      el('h1', {}, 'Two profiles'),
      el('dl', {}, el('dt', {}, 'A'), el('dd', {}, side(d.a)), el('dt', {}, 'B'), el('dd', {}, side(d.b))),
      table(
        ['measure', 'A', 'B', 'B / A'],
        d.rows.map((r) => ({
          cells: [r.measure, unit(r, r.a), unit(r, r.b), r.a && r.b !== null ? `${(r.b / r.a).toFixed(2)}x` : ''],
          sort: [r.measure, r.a, r.b, r.a && r.b !== null ? r.b / r.a : null],
        })),
        { right: [false, true, true, true], id: 'compare' },
      ),
    );
    await drawCharts(chartsBox, d.charts);
    markRendered();
  };
  await draw();
  subscribe('logs', draw);
}

// ---- Routing ----

async function route() {
  leavePage();
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, q = ''] = hash.split('?');
  const params = new URLSearchParams(q);
  try {
    if (path.startsWith('/study/')) await studyPage(decodeURIComponent(path.slice(7)));
    else if (path === '/runs') await runsPage(params.getAll('file'));
    else if (path === '/reports') reportsPage(params.getAll('file'));
    else if (path === '/compare') await comparePage(params.get('a'), params.get('b'));
    else await overview();
  } catch (e) {
    showError(e);
  }
}

async function start() {
  try {
    info = await api('/api/info');
  } catch (e) {
    showError(e);
    return;
  }
  window.addEventListener('hashchange', route);
  await route();
}

start();
