/**
 * Tuner storages: trials per second of a study whose objective costs nothing (branin, random sampler), so
 * what is measured is the study + storage overhead per trial. Hone and Optuna (Debian's python3-optuna,
 * RDB storage through SQLAlchemy) side by side, on memory, SQLite and PostgreSQL, with 1 process and with
 * 4 worker processes sharing one study.
 *
 * Each variant runs in fresh processes; a process reports the time from just before its first trial to
 * just after its last, so interpreter and import start-up are excluded. With 4 workers the throughput is
 * trials / (last end − first start). Median of `--runs` (default 3).
 *
 *   npx tsx bench/tune-storage.ts [--trials 300] [--runs 3]
 *
 * Needs /usr/bin/python3 with optuna and psycopg2 (apt-get install python3-optuna python3-psycopg2)
 * and the local PostgreSQL; uses a scratch database it drops at the end.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { benchmarkObjective, branin } from '../src/tune/benchmarks.js';
import { RandomSampler } from '../src/tune/samplers/random.js';
import { openStorage } from '../src/tune/storage/open.js';
import { createStudy } from '../src/tune/study.js';
import { runWorker } from '../src/cli/tune/worker.js';
import { resolveTuneConfig } from '../src/cli/tune/config.js';
import { makeObjective } from '../src/cli/tune/objective.js';
import { CONFIG_ATTR } from '../src/cli/tune/worker-process.js';

const PY = '/usr/bin/python3';
const PG_ADMIN = process.env.HONE_TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

// ------------------------------------------------------------------------------------- children

/** Hone, one process: `study.optimize` over the storage. Prints {start, end} in ms. */
async function honeSingle(url: string, trials: number): Promise<void> {
  const storage = await openStorage(url);
  const study = await createStudy({ name: 'bench', storage, sampler: new RandomSampler({ seed: 1 }) });
  const start = Date.now();
  await study.optimize(benchmarkObjective(branin), { nTrials: trials });
  const end = Date.now();
  await storage.close();
  process.stdout.write(`${JSON.stringify({ start, end })}\n`);
}

/** Hone, one of several worker processes: the same loop as `hone tune --workers K`. */
async function honeWorker(url: string, index: number): Promise<void> {
  const storage = await openStorage(url);
  const id = (await storage.getStudyId('bench'))!;
  const config = (await storage.getStudy(id)).systemAttrs[CONFIG_ATTR] as ReturnType<typeof resolveTuneConfig>;
  const start = Date.now();
  await runWorker({ storage, config, objective: makeObjective(config), workerIndex: index, deadline: Infinity });
  const end = Date.now();
  await storage.close();
  process.stdout.write(`${JSON.stringify({ start, end })}\n`);
}

const OPTUNA = `
import json, math, sys, time, optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
mode, url, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def branin(trial):
    x1 = trial.suggest_float("x0", -5, 10); x2 = trial.suggest_float("x1", 0, 15)
    b = 5.1 / (4 * math.pi ** 2); c = 5 / math.pi; t = 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10
storage = None if url == "memory" else optuna.storages.RDBStorage(url)
if mode == "create":
    optuna.create_study(study_name="bench", storage=storage); sys.exit(0)
if mode == "single":
    study = optuna.create_study(study_name="bench", storage=storage, sampler=optuna.samplers.RandomSampler(seed=1))
else:
    study = optuna.load_study(study_name="bench", storage=storage, sampler=optuna.samplers.RandomSampler())
start = time.time()
study.optimize(branin, n_trials=n)
print(json.dumps({"start": start * 1000, "end": time.time() * 1000}))
`;
import { cpuDescription } from '../src/runtime/cpu.js';

// ------------------------------------------------------------------------------------- parent

interface Span {
  start: number;
  end: number;
}

function run(cmd: string, args: string[]): Promise<Span | undefined> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${err.slice(-2000)}`));
      const line = out.trim().split('\n').pop();
      resolve(line ? (JSON.parse(line) as Span) : undefined);
    });
  });
}

function throughput(spans: Span[], trials: number): number {
  const start = Math.min(...spans.map((s) => s.start));
  const end = Math.max(...spans.map((s) => s.end));
  return trials / ((end - start) / 1000);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    if (argv[1] === 'single') return honeSingle(argv[2]!, Number(argv[3]));
    return honeWorker(argv[2]!, Number(argv[3]));
  }
  const flag = (name: string, dflt: number) => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : dflt;
  };
  const trials = flag('--trials', 300);
  const runs = flag('--runs', 3);
  const self = fileURLToPath(import.meta.url);
  const tsx = import.meta.resolve('tsx');
  const dir = mkdtempSync(join(tmpdir(), 'hone-bench-tune-'));
  const optunaScript = join(dir, 'optuna_bench.py');
  writeFileSync(optunaScript, OPTUNA);

  const dbName = `hone_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const pgBase = PG_ADMIN.replace(/\/[^/?]*(\?.*)?$/, `/${dbName}`);

  let counter = 0;
  /** A fresh place for one run: [hone url, optuna url]. */
  const fresh = (kind: 'memory' | 'sqlite' | 'postgres'): [string, string] => {
    const k = counter++;
    if (kind === 'memory') return ['memory', 'memory'];
    if (kind === 'sqlite') return [`sqlite:${join(dir, `h${k}.db`)}`, `sqlite:///${join(dir, `o${k}.db`)}`];
    return [
      `${pgBase}?schema=hone_${k}`,
      `${pgBase.replace('postgresql://', 'postgresql+psycopg2://')}?options=-csearch_path%3Doptuna_${k}`,
    ];
  };
  const ensureOptunaSchema = async (url: string) => {
    const m = /search_path%3D(\w+)/.exec(url);
    if (!m) return;
    const c = new pg.Client({ connectionString: pgBase });
    await c.connect();
    await c.query(`CREATE SCHEMA ${m[1]}`);
    await c.end();
  };

  const rows: { storage: string; workers: number; hone: number; optuna: number }[] = [];
  try {
    for (const kind of ['memory', 'sqlite', 'postgres'] as const) {
      for (const workers of kind === 'memory' ? [1] : [1, 4]) {
        const hone: number[] = [];
        const optuna: number[] = [];
        for (let r = 0; r < runs; r++) {
          const [hUrl, oUrl] = fresh(kind);
          await ensureOptunaSchema(oUrl);
          if (workers === 1) {
            hone.push(
              throughput([(await run(process.execPath, ['--import', tsx, self, '--child', 'single', hUrl, String(trials)]))!], trials),
            );
            optuna.push(throughput([(await run(PY, [optunaScript, 'single', oUrl, String(trials)]))!], trials));
          } else {
            const storage = await openStorage(hUrl);
            const config = resolveTuneConfig({ study: 'bench', objective: 'bench:branin', sampler: 'random', trials }, {});
            const id = await storage.createStudy('bench', ['minimize']);
            await storage.setStudySystemAttr(id, CONFIG_ATTR, config);
            await storage.close();
            const hs = await Promise.all(
              Array.from({ length: workers }, (_, i) =>
                run(process.execPath, ['--import', tsx, self, '--child', 'worker', hUrl, String(i)]),
              ),
            );
            hone.push(throughput(hs as Span[], trials));
            await run(PY, [optunaScript, 'create', oUrl, '0']);
            const os = await Promise.all(
              Array.from({ length: workers }, () => run(PY, [optunaScript, 'worker', oUrl, String(trials / workers)])),
            );
            optuna.push(throughput(os as Span[], trials));
          }
        }
        rows.push({ storage: kind, workers, hone: median(hone), optuna: median(optuna) });
        process.stderr.write(`${kind} ×${workers}: hone ${median(hone).toFixed(0)}/s, optuna ${median(optuna).toFixed(0)}/s\n`);
      }
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }

  const cpu = cpuDescription();
  console.log(
    `Machine: ${cpu}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}; Optuna 3.1.0 (Debian).`,
  );
  console.log(
    `Run: \`npx tsx bench/tune-storage.ts --trials ${trials} --runs ${runs}\` (${new Date().toISOString().slice(0, 10)}). Trials per second, median of ${runs}.\n`,
  );
  console.log('| storage | processes | Hone trials/s | Optuna trials/s | Hone / Optuna |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of rows)
    console.log(`| ${r.storage} | ${r.workers} | ${r.hone.toFixed(0)} | ${r.optuna.toFixed(0)} | ${(r.hone / r.optuna).toFixed(2)} |`);
}

await main();
