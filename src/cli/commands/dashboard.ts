/**
 * `hone dashboard`: serves the live dashboard (src/dashboard) until Ctrl-C. Everything that can be wrong
 * with the flags (a storage that does not open, a missing folder, a port in use) is said before the
 * server listens.
 */
import { badInput } from '../../errors.js';
import { isLoopback, startDashboard } from '../../dashboard/server.js';
import { numberFlag, parseFlags, type Command } from '../command.js';
import { parseDuration } from './optimize.js';

const HELP = `hone dashboard — studies, training runs and reports in the browser, live

Usage:
  hone dashboard [--storage URL] [--logs DIR] [--port N] [--host ADDR] [--writable]

Serves a local web app (no internet needed) with:
  studies   optimization history, slice, contour, parallel coordinates, parameter importance,
            Pareto front, intermediate values (pruned trials marked), a sortable, filterable table
            of every trial with its parameters, attributes, fail reason and stderr tail
  runs      loss, accuracy, learning-rate and throughput curves of hone train --log files, several
            runs overlaid
  reports   the JSON of hone profile|quantize|optimize|lr-find|study show (--json), drawn as their
            --html pages, side by side; two profiles compared measure by measure
Pages redraw by themselves while a study or a run is going.

Options:
  --storage URL        a tuning storage: sqlite:PATH (or PATH.db) or postgresql://user@host:port/db
  --logs DIR           a folder with training logs and reports (searched 4 levels deep); default:
                       the current folder when --storage is not given
  --port N             default 8080; 0 picks a free port
  --host ADDR          default 127.0.0.1 (this machine only). Any other address needs the token the
                       printed URL carries (?token=…); anyone who has the URL can read
  --token TEXT         the token (default: a new random one each start)
  --writable           allow deleting a study, and marking a running trial failed (its worker died) or
                       complete with values given by hand (needs the token and the page's own origin)
  --poll DURATION      how often live pages check for changes (default 1s)
  --stop-after DURATION  serve for this long, then exit (for scripts); default: until Ctrl-C

Examples:
  hone dashboard --storage sqlite:runs.db
  hone dashboard --storage sqlite:runs.db --logs . --port 8090
  hone dashboard --logs .
`;

export const dashboardCommand: Command = {
  name: 'dashboard',
  summary: 'studies, training runs and reports in the browser, live (hone dashboard --storage URL --logs DIR)',
  help: HELP,
  async run(argv, io) {
    const { values, positionals } = parseFlags(
      'dashboard',
      argv,
      {
        storage: { type: 'string' },
        logs: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        token: { type: 'string' },
        writable: { type: 'boolean' },
        poll: { type: 'string' },
        'stop-after': { type: 'string' },
      },
      false,
    );
    if (positionals.length) throw badInput(`dashboard takes no arguments (got '${positionals[0]}'); give a storage with --storage URL`);
    const port = numberFlag(values.port, '--port', { int: true, min: 0 }) ?? 8080;
    if (port > 65535) throw badInput(`--port must be at most 65535, got ${port}`);
    if (values.token !== undefined && values.token.length < 8)
      throw badInput('--token must be at least 8 characters (or leave it out for a random one)');
    const pollS = values.poll === undefined ? 1 : parseDuration(values.poll, '--poll');
    if (pollS < 0.1) throw badInput(`--poll must be at least 0.1s, got ${values.poll}`);
    const stopAfter = values['stop-after'] === undefined ? undefined : parseDuration(values['stop-after'], '--stop-after');
    const logs = values.logs ?? (values.storage ? undefined : '.');
    const host = values.host ?? '127.0.0.1';
    const dashboard = await startDashboard({
      storage: values.storage,
      logs,
      port,
      host,
      token: values.token,
      writable: values.writable,
      pollMs: pollS * 1000,
    });
    const what = [values.storage && `the studies of ${values.storage}`, logs && `the runs and reports in ${logs}`]
      .filter(Boolean)
      .join(' and ');
    io.stderr(`hone dashboard: serving ${what}\n  open ${dashboard.url}\n`);
    if (isLoopback(host))
      io.stderr(
        `  (this machine only; reading needs no token: ${dashboard.baseUrl}${values.writable ? '; deleting a study needs the URL with the token' : ''})\n`,
      );
    else io.stderr('  anyone with this URL can read the studies and logs: keep it private\n');
    io.stderr(stopAfter === undefined ? '  Ctrl-C stops it\n' : `  stops after ${stopAfter} s\n`);
    let release = () => {};
    await new Promise<void>((resolve) => {
      const timer = stopAfter === undefined ? undefined : setTimeout(resolve, stopAfter * 1000);
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      release = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        if (timer) clearTimeout(timer);
      };
    });
    release();
    await dashboard.close();
    io.stderr('hone dashboard: stopped\n');
    return 0;
  },
};
