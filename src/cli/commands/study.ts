import { badInput } from '../../errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { checkWritable, parseFlags, type Command, type Io } from '../command.js';
import { studyReport } from '../../tune/report.js';
import { formatReport } from '../tune/summary.js';
import { studyHtml } from '../../report/study-html.js';
import { openStorage, storageKind } from '../../tune/storage/open.js';
import { describeUrl } from '../../tune/storage/postgres.js';
import type { Storage } from '../../tune/storage/storage.js';
import type { FrozenTrial, StudySummary } from '../../tune/types.js';

const HELP = `hone study — list, show and export studies in a storage

Usage:
  hone study list --storage URL [--json]
  hone study show NAME --storage URL [--json] [--html FILE]
  hone study export NAME --storage URL --format json|csv [-o FILE]
  (--study NAME, as hone tune takes it, works in place of NAME)

--storage is sqlite:PATH (or PATH.db) or postgresql://user@host:port/db[?schema=S].
CSV has one row per trial: number, state, value (values_0, values_1, … with several objectives),
datetime_start, datetime_complete, duration_s, params_<name>…, user_attrs_<key>…, fail_reason.
--html FILE (show) also writes one self-contained page (inline SVG charts, opens offline): the
optimization history with the best value so far, parameter importance, the Pareto front of a
multi-objective study, learning curves (intermediate values; pruned trials marked) and a sortable
table of every trial. --json prints the same data.

Examples:
  hone study list --storage sqlite:runs.db
  hone study show lr-search --storage sqlite:runs.db
  hone study show lr-search --storage sqlite:runs.db --html lr-search.html
  hone study export lr-search --storage sqlite:runs.db --format csv -o lr-search.csv
`;

export const studyCommand: Command = {
  name: 'study',
  summary: 'list, show or export tuning studies (hone study list|show|export)',
  help: HELP,
  async run(argv: string[], io: Io) {
    const { values, positionals } = parseFlags('study', argv, {
      storage: { type: 'string' },
      json: { type: 'boolean' },
      format: { type: 'string' },
      output: { type: 'string', short: 'o' },
      html: { type: 'string' },
      study: { type: 'string' },
    });
    const [action, positionalName, ...extra] = positionals;
    // --study NAME, the flag hone tune names a study with, works as the name too.
    if (values.study !== undefined && positionalName !== undefined && values.study !== positionalName)
      throw badInput(`study ${action}: two names, '${positionalName}' and --study '${values.study}'; give one`);
    const name = positionalName ?? values.study;
    if (!action || !['list', 'show', 'export'].includes(action))
      throw badInput("study needs an action: list, show NAME or export NAME; see 'hone study --help'");
    if (extra.length) throw badInput(`study ${action}: unexpected argument '${extra[0]}'`);
    if (!values.storage) throw badInput(`study ${action} needs --storage sqlite:PATH or postgresql://…`);
    if (storageKind(values.storage) === 'memory')
      throw badInput('memory storage holds no studies between runs; use --storage sqlite:PATH or postgresql://…');
    if (action === 'list' && name !== undefined) throw badInput(`study list takes no name (got '${name}')`);
    if (action !== 'list' && name === undefined)
      throw badInput(`study ${action} needs a study name; list them with 'hone study list --storage ${values.storage}'`);
    if (values.html !== undefined && action !== 'show')
      throw badInput(`--html is for 'study show' (got 'study ${action}'); e.g. hone study show NAME --storage URL --html study.html`);
    if (values.html !== undefined) checkWritable(values.html);
    let format: 'json' | 'csv' | undefined;
    if (action === 'export') {
      if (values.format !== 'json' && values.format !== 'csv')
        throw badInput(`study export needs --format json or --format csv${values.format ? ` (got '${values.format}')` : ''}`);
      format = values.format;
    }

    const storage = await openStorage(values.storage);
    try {
      if (action === 'list') return await list(storage, io, Boolean(values.json));
      const summary = await findStudy(storage, name!, values.storage);
      const trials = await storage.getAllTrials(summary.id);
      if (action === 'show') {
        const report = studyReport(summary, trials);
        if (values.html !== undefined) writeFileAtomic(values.html, studyHtml(report, { where: safeWhere(values.storage) }));
        io.stdout(values.json ? `${JSON.stringify(report)}\n` : formatReport(report, { where: values.storage }));
        return 0;
      }
      const text = format === 'csv' ? trialsCsv(summary, trials) : `${JSON.stringify(exportJson(summary, trials), null, 2)}\n`;
      if (values.output) writeFileAtomic(values.output, text);
      else io.stdout(text);
      return 0;
    } finally {
      await storage.close();
    }
  },
};

/** The storage for a page that may be shared: a PostgreSQL URL without its user and password. */
function safeWhere(url: string): string {
  return storageKind(url) === 'postgres' ? `postgresql://${describeUrl(url)}` : url;
}

async function list(storage: Storage, io: Io, json: boolean): Promise<number> {
  const rows = [];
  for (const s of await storage.listStudies()) {
    const done = await storage.getAllTrials(s.id, ['complete']);
    const firsts = done.map((t) => t.values?.[0]).filter((v): v is number => v !== undefined && !Number.isNaN(v));
    const bestValue =
      s.directions.length > 1 || !firsts.length ? null : s.directions[0] === 'maximize' ? Math.max(...firsts) : Math.min(...firsts);
    rows.push({
      name: s.name,
      directions: s.directions,
      nTrials: s.nTrials,
      complete: done.length,
      bestValue,
      created: s.datetimeStart ?? null,
    });
  }
  if (json) {
    io.stdout(`${JSON.stringify({ studies: rows })}\n`);
    return 0;
  }
  if (!rows.length) {
    io.stdout('no studies\n');
    return 0;
  }
  const table = [['study', 'directions', 'trials', 'complete', 'best', 'created']];
  for (const r of rows) {
    table.push([
      r.name,
      r.directions.join(','),
      String(r.nTrials),
      String(r.complete),
      r.bestValue === null ? '-' : String(Number(r.bestValue.toPrecision(6))),
      r.created === null ? '-' : new Date(r.created).toISOString().replace('T', ' ').slice(0, 19),
    ]);
  }
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table)
    io.stdout(
      `${row
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd()}\n`,
    );
  return 0;
}

async function findStudy(storage: Storage, name: string, url: string): Promise<StudySummary> {
  const id = await storage.getStudyId(name);
  if (id === undefined) {
    const names = (await storage.listStudies()).map((s) => s.name);
    throw badInput(
      `no study '${name}' in ${url}${names.length ? `; studies there: ${names.slice(0, 10).join(', ')}` : '; it holds no studies'}`,
    );
  }
  return storage.getStudy(id);
}

/** JSON export: the study and every trial as stored (non-finite numbers as strings, since JSON has none). */
function exportJson(s: StudySummary, trials: FrozenTrial[]) {
  const num = (v: number) => (Number.isFinite(v) ? v : String(v));
  return {
    study: s.name,
    directions: s.directions,
    userAttrs: s.userAttrs,
    systemAttrs: s.systemAttrs,
    trials: trials.map((t) => ({
      ...t,
      values: t.values?.map(num),
      intermediateValues: Object.fromEntries(Object.entries(t.intermediateValues).map(([k, v]) => [k, num(v)])),
    })),
  };
}

/** One row per trial, Optuna's trials_dataframe columns. */
export function trialsCsv(s: StudySummary, trials: FrozenTrial[]): string {
  const valueCols = s.directions.length === 1 ? ['value'] : s.directions.map((_, i) => `values_${i}`);
  const paramNames = [...new Set(trials.flatMap((t) => Object.keys(t.params)))].sort();
  const attrNames = [...new Set(trials.flatMap((t) => Object.keys(t.userAttrs)))].sort();
  const header = [
    'number',
    'state',
    ...valueCols,
    'datetime_start',
    'datetime_complete',
    'duration_s',
    ...paramNames.map((p) => `params_${p}`),
    ...attrNames.map((a) => `user_attrs_${a}`),
    'fail_reason',
  ];
  const iso = (ms: number | undefined) => (ms === undefined ? '' : new Date(ms).toISOString());
  const rows = trials.map((t) => [
    t.number,
    t.state,
    ...valueCols.map((_, i) => t.values?.[i] ?? ''),
    iso(t.datetimeStart),
    iso(t.datetimeComplete),
    t.datetimeStart !== undefined && t.datetimeComplete !== undefined ? (t.datetimeComplete - t.datetimeStart) / 1000 : '',
    ...paramNames.map((p) => (p in t.params ? t.params[p] : '')),
    ...attrNames.map((a) => (a in t.userAttrs ? t.userAttrs[a] : '')),
    typeof t.systemAttrs.fail_reason === 'string' ? t.systemAttrs.fail_reason : '',
  ]);
  return `${[header, ...rows].map((r) => r.map(csvCell).join(',')).join('\n')}\n`;
}

function csvCell(v: unknown): string {
  const s = v === null ? 'null' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
