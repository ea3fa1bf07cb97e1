/**
 * Pieces the self-contained HTML reports share: escaping, the page with its stylesheet, definition lists,
 * tables (and the inline script that sorts them) and round axis ticks. Everything is inline (CSS, and the
 * charts' SVG from echarts-svg.ts), so a report opens offline from a single file.
 */

/** Text for HTML content and attribute values. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const BASE_CSS = `body{font:14px/1.45 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#1d2330}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #dde;padding-bottom:.2em}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1.2em}dt{color:#667}dd{margin:0}
table{border-collapse:collapse;margin:.6em 0}td,th{padding:.2em .7em;border-bottom:1px solid #eef;text-align:left}
td.n,th.n{text-align:right}th{color:#556;font-weight:600}
code{background:#f2f3f7;padding:0 .3em;border-radius:3px}small{color:#556}
svg text{font:12px system-ui,sans-serif;fill:#1d2330}`;

/**
 * A whole page: `css` adds to the shared stylesheet, `script` (optional, inline) only enhances a page that
 * reads completely without it.
 */
export function htmlPage(p: { title: string; body: string; footer: string; css?: string; script?: string }): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(p.title)}</title>
<style>
${BASE_CSS}${p.css ? `\n${p.css}` : ''}
</style></head><body>
${p.body}
<p><small>${esc(p.footer)}</small></p>${p.script ? `\n<script>${p.script}</script>` : ''}
</body></html>
`;
}

export function dl(rows: [string, string][]): string {
  return `<dl>${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>`;
}

/** A cell given as markup (already escaped), with an optional value to sort by and a class. */
export interface HtmlCell {
  html: string;
  sort?: number | string;
  cls?: string;
}
export type Cell = string | HtmlCell;

export interface TableOptions {
  /** Right-aligned (numeric) columns. */
  right?: readonly boolean[];
  /** A class per row (by index). */
  rowClass?: (i: number) => string | undefined;
  /** A class for the table ('sortable' lets the page's script sort it by a header click). */
  cls?: string;
}

/** A table of text cells (escaped here) or markup cells. */
export function htmlTable(header: readonly string[], rows: readonly (readonly Cell[])[], o: TableOptions = {}): string {
  const cls = (i: number, extra?: string) => {
    const c = [o.right?.[i] ? 'n' : '', extra ?? ''].filter(Boolean).join(' ');
    return c ? ` class="${c}"` : '';
  };
  const cell = (c: Cell, i: number) =>
    typeof c === 'string'
      ? `<td${cls(i)}>${esc(c)}</td>`
      : `<td${cls(i, c.cls)}${c.sort === undefined ? '' : ` data-sort="${esc(String(c.sort))}"`}>${c.html}</td>`;
  const body = rows
    .map((r, i) => {
      const rc = o.rowClass?.(i);
      return `<tr${rc ? ` class="${rc}"` : ''}>${r.map(cell).join('')}</tr>`;
    })
    .join('');
  return `<table${o.cls ? ` class="${o.cls}"` : ''}><thead><tr>${header.map((h, i) => `<th${cls(i)}>${esc(h)}</th>`).join('')}</tr></thead><tbody>${body}</tbody></table>`;
}

/** Sorts a `sortable` table by the clicked column: numbers by `data-sort`, text naturally, blanks last. */
export const SORT_SCRIPT = `for (const t of document.querySelectorAll('table.sortable')) {
  t.tHead.rows[0].querySelectorAll('th').forEach((th, i) => th.addEventListener('click', () => {
    const dir = th.dataset.dir === 'asc' ? -1 : 1;
    th.dataset.dir = dir > 0 ? 'asc' : 'desc';
    const key = (r) => { const c = r.cells[i]; const s = c.dataset.sort ?? c.textContent.trim(); const n = Number(s); return s === '' ? null : Number.isNaN(n) ? s : n; };
    const rows = [...t.tBodies[0].rows];
    rows.sort((a, b) => {
      const x = key(a), y = key(b);
      if (x === null || y === null) return (x === null) - (y === null);
      return dir * (typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true }));
    });
    for (const r of rows) t.tBodies[0].appendChild(r);
  }));
}`;

/** Ticks at a round step (1, 2 or 5 × 10^k) covering [lo, hi], about `n` of them. */
export function ticks(lo: number, hi: number, n: number): number[] {
  const span = hi - lo || Math.max(Math.abs(hi) * 0.2, 1e-3);
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  const step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
  const first = Math.floor(lo / step + 1e-9) * step;
  const out: number[] = [];
  for (let t = first; out.length === 0 || out[out.length - 1]! < hi - 1e-9 * step; t += step) out.push(Number(t.toPrecision(12)));
  if (out.length < 2) out.push(Number((first + step).toPrecision(12)));
  return out;
}
