/**
 * Membership of a data-parallel run, in a JetStream key-value bucket `hone-dp-<run>` (compare-and-set
 * writes, so two workers never take the same rank):
 *
 *   config        the run: what every worker trains (the leader's argv), its fingerprint, the world size,
 *                 written once by the leader with create (fails if the key exists)
 *   rank.<k>      taken by create: the worker holding rank k (1..world-1; the leader is 0)
 *   ready.<g>.<k> worker k has subscribed to generation g's messages: once all are, anyone may send
 *   alive.<k>     worker k's heartbeat, rewritten every second
 *   members.<g>   generation g's workers (their first ranks; a worker's rank in g is its place in the list),
 *                 written with create by the first survivor to propose it: every survivor reads the same
 *   refused.<id>  a worker that refused to join (its model or data differ) and why: the leader fails at once
 *
 * A worker keeps the rank it took (`k` above) as its name for the whole run; generation 1 is every rank.
 *
 * Stopping is agreed in the gradient exchange (a flag every worker sends each step); an abort (Ctrl-C of
 * the leader, a worker's crash) is published on `hone.dp.<run>.ctl` so no worker waits out a timeout.
 */
import type { KV } from '@nats-io/kv';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { hostname } from 'node:os';
import { badInput, HoneError } from '../errors.js';

export interface RunConfig {
  /** The leader's `hone train` arguments every worker parses the same way (no output, no --workers). */
  argv: string[];
  /** sha256 of the model, the data and the options: a worker whose own differs is refused. */
  fingerprint: string;
  world: number;
  /** The leader's host, for messages. */
  leader: string;
}

/** How long a heartbeat may be old before its worker counts as gone. */
export const HEARTBEAT_TIMEOUT_MS = 10_000;
/** A worker's name in its rank key: host and process first, so a leader can tell which rank a local process held. */
export function workerId(pid: number, suffix: string): string {
  return `${hostname()}-${pid}-${suffix}`;
}
const HEARTBEAT_MS = 1000;

export function checkRunName(run: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(run)) throw badInput(`--run must be 1-64 letters, digits, '-' or '_', got '${run}'`);
  return run;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class Rendezvous {
  private heartbeat: NodeJS.Timeout | undefined;
  private ctl: Subscription | undefined;

  private constructor(
    readonly nc: NatsConnection,
    readonly run: string,
    readonly kv: KV,
    readonly config: RunConfig,
  ) {}

  /** The leader's side: a new run (an earlier run of this name whose leader stopped beating is replaced). */
  static async create(nc: NatsConnection, url: string, run: string, config: RunConfig): Promise<Rendezvous> {
    const kv = await bucket(nc, url, run);
    try {
      await kv.create('config', enc.encode(JSON.stringify(config)));
    } catch {
      const age = await ageMs(kv, 'alive.0');
      if (age !== undefined && age < HEARTBEAT_TIMEOUT_MS)
        throw badInput(`a run named '${run}' is in progress on ${url}; choose another --run name`);
      await kv.destroy();
      return Rendezvous.create(nc, url, run, config);
    }
    const rv = new Rendezvous(nc, run, kv, config);
    rv.beat(0);
    return rv;
  }

  /** A worker's side: waits up to `waitMs` for the run's config (`onWait` once, when it is not there yet). */
  static async join(nc: NatsConnection, url: string, run: string, waitMs: number, onWait: () => void): Promise<Rendezvous> {
    // Opened, not created: a worker waiting for a run that never starts leaves no bucket behind.
    const kv = await new Kvm(nc).open(`hone-dp-${checkRunName(run)}`);
    const t0 = Date.now();
    let told = false;
    for (;;) {
      const e = await kv.get('config').catch((err: unknown) => {
        if ((err as Error)?.name === 'StreamNotFoundError' || /stream not found/i.test((err as Error)?.message ?? '')) return null;
        throw noKeyValue(url, err);
      });
      if (e && e.operation === 'PUT' && e.length > 0) return new Rendezvous(nc, run, kv, JSON.parse(e.string()) as RunConfig);
      if (Date.now() - t0 > waitMs)
        throw badInput(
          `no run named '${run}' started on ${url} within ${Math.round(waitMs / 1000)} s; start it with 'hone train … --workers N --run ${run}'`,
        );
      if (!told) onWait();
      told = true;
      await sleep(250);
    }
  }

  /**
   * Takes the first free rank 1..world-1 (compare-and-set). When those are taken and the run is elastic
   * (`joinable`), a rank from world up: the worker joins a later generation. Else the run is full.
   */
  async claimRank(id: string, joinable = false): Promise<number> {
    const last = joinable ? this.config.world + 64 : this.config.world;
    for (let k = 1; k < last; k++) {
      try {
        await this.kv.create(`rank.${k}`, enc.encode(id));
        this.beat(k);
        return k;
      } catch {
        // taken: try the next
      }
    }
    throw badInput(
      `run '${this.run}' already has its ${this.config.world} workers${joinable ? ' and 64 more have joined' : ''}; start it with a larger --workers (or --min-workers, so workers may join) or join another run`,
    );
  }

  /** Asks to be admitted at the leader's next epoch. */
  async requestJoin(id: number): Promise<void> {
    await this.kv.put(`join.${id}`, enc.encode(String(Date.now())));
  }

  /** Workers that asked to join, by rank. */
  async joinRequests(): Promise<number[]> {
    const out: number[] = [];
    for await (const k of await this.kv.keys('join.*')) out.push(Number(k.slice(5)));
    return out.sort((a, b) => a - b);
  }

  /** The first generation from `from` on whose members include `id` (polled; `check` may throw to give up). */
  async waitForMembership(id: number, from: number, check: () => void): Promise<{ generation: number; members: number[] }> {
    for (let g = from; ; ) {
      check();
      const m = await this.agreedMembers(g);
      if (m?.includes(id)) return { generation: g, members: m };
      if (m) g++;
      else await sleep(250);
    }
  }

  /** Tells the leader why this worker will not join, and fails with the same message. */
  async refuse(id: string, why: string): Promise<never> {
    await this.kv.put(`refused.${id}`, enc.encode(why)).catch(() => {});
    throw badInput(why);
  }

  async ready(generation: number, id: number): Promise<void> {
    await this.kv.put(`ready.${generation}.${id}`, enc.encode(String(Date.now())));
  }

  /**
   * Resolves once every member of the generation is ready; fails when a worker refused, when `check` throws
   * (the leader's children exiting), or after `timeoutMs`.
   */
  async waitReady(generation: number, members: readonly number[], timeoutMs: number, check: () => void = () => {}): Promise<void> {
    const t0 = Date.now();
    for (;;) {
      const refused = await this.firstRefusal();
      if (refused) throw badInput(`a worker refused to join run '${this.run}': ${refused}`);
      check();
      let ready = 0;
      for (const k of members) if (await this.kv.get(`ready.${generation}.${k}`)) ready++;
      if (ready === members.length) return;
      if (Date.now() - t0 > timeoutMs)
        throw badInput(
          `only ${ready} of ${this.config.world} workers joined run '${this.run}' within ${Math.round(timeoutMs / 1000)} s; start the others with 'hone train-worker --join URL --run ${this.run}'`,
        );
      await sleep(100);
    }
  }

  /** Milliseconds since worker k's last heartbeat (undefined: it never beat). */
  lastSeenMs(id: number): Promise<number | undefined> {
    return ageMs(this.kv, `alive.${id}`);
  }

  /**
   * Generation `generation`'s members: `proposal` (the survivors as this worker sees them) if it is the first
   * to propose, else what the first proposed. Every survivor continues with the same list.
   */
  async members(generation: number, proposal: readonly number[]): Promise<number[]> {
    try {
      await this.kv.create(`members.${generation}`, enc.encode(JSON.stringify(proposal)));
      return [...proposal];
    } catch {
      const e = await this.kv.get(`members.${generation}`);
      return JSON.parse(e!.string()) as number[];
    }
  }

  /** Waits for generation `generation`'s members (the leader's word); fails when the leader's heartbeat stops. */
  async waitForMembers(generation: number, heartbeatMs: number): Promise<number[]> {
    for (;;) {
      const m = await this.agreedMembers(generation);
      if (m) return m;
      const age = await this.lastSeenMs(0);
      if (age === undefined || age > heartbeatMs)
        throw new HoneError(`the leader (worker 0) of run '${this.run}' is gone, so the run ends`, 1);
      await sleep(250);
    }
  }

  /** Generation `generation`'s members once some survivor has proposed them, else undefined. */
  async agreedMembers(generation: number): Promise<number[] | undefined> {
    const e = await this.kv.get(`members.${generation}`);
    return e && e.length > 0 ? (JSON.parse(e.string()) as number[]) : undefined;
  }

  /** The workers (first ranks) whose rank key names process `pid` on this host. */
  async rankOfProcess(pid: number): Promise<number | undefined> {
    for (let k = 1; k < this.config.world; k++) {
      const e = await this.kv.get(`rank.${k}`);
      if (e?.string().startsWith(`${hostname()}-${pid}-`)) return k;
    }
    return undefined;
  }

  /** Calls `onAbort` when any worker aborts the run (once). */
  watchAborts(onAbort: (e: HoneError) => void): void {
    this.ctl = this.nc.subscribe(`hone.dp.${this.run}.ctl`, {
      callback: (_err, msg) => {
        const { rank, reason } = JSON.parse(dec.decode(msg.data)) as { rank: number; reason: string };
        onAbort(new HoneError(`worker ${rank} stopped run '${this.run}': ${reason}`, 1));
      },
    });
  }

  /** Tells every worker the run is over for `reason` (this worker's crash or interrupt). */
  async abort(rank: number, reason: string): Promise<void> {
    this.nc.publish(`hone.dp.${this.run}.ctl`, enc.encode(JSON.stringify({ rank, reason })));
    await this.nc.flush().catch(() => {});
  }

  /** Stops the heartbeat; the leader also removes the run's bucket. */
  async close(removeRun: boolean): Promise<void> {
    clearInterval(this.heartbeat);
    this.ctl?.unsubscribe();
    if (removeRun) await this.kv.destroy().catch(() => {});
  }

  private beat(rank: number): void {
    const put = () => void this.kv.put(`alive.${rank}`, enc.encode(String(Date.now()))).catch(() => {});
    put();
    this.heartbeat = setInterval(put, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  private async firstRefusal(): Promise<string | undefined> {
    const keys = await this.kv.keys('refused.*');
    for await (const k of keys) {
      const e = await this.kv.get(k);
      if (e) return e.string();
    }
    return undefined;
  }
}

/** The server at `url` could not serve a key-value bucket: most often it runs without JetStream. */
function noKeyValue(url: string, e: unknown): HoneError {
  return badInput(
    `the NATS server at ${url} has no JetStream key-value store (${(e as Error).message}); start it with 'nats-server -js'`,
    e,
  );
}

async function bucket(nc: NatsConnection, url: string, run: string): Promise<KV> {
  try {
    return await new Kvm(nc).create(`hone-dp-${checkRunName(run)}`, { history: 1 });
  } catch (e) {
    if (e instanceof HoneError) throw e;
    throw noKeyValue(url, e);
  }
}

async function ageMs(kv: KV, key: string): Promise<number | undefined> {
  const e = await kv.get(key);
  if (!e || e.length === 0) return undefined;
  return Date.now() - Number(e.string());
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
