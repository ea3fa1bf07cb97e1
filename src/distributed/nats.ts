/**
 * The workers' wire: NATS (nats-server, JetStream enabled) through its maintained client. Two parts:
 *
 * - `NatsCollective`: the Collective of compress.ts over core NATS publish/subscribe. A round's message goes
 *   out as chunks of at most the server's max payload (1 MiB by default) on subjects
 *   `hone.dp.<run>.<generation>.<round>.<rank>.<chunk>.<chunks>`; every worker subscribes to its run's
 *   generation before the rendezvous lets anyone send, so no message is published to nobody. The
 *   connection does not echo a worker's own messages back to it (its own part is placed directly), so the
 *   bytes counted are what leaves the worker. NATS keeps one publisher's messages in order per subscriber,
 *   and rounds are keyed, so a fast worker's next round may arrive before this one's ends.
 * - `TokenBucket`: a deterministic egress limit inside the transport (no root, no tc): a chunk leaves when
 *   the bucket holds its bytes, refilled at the link's rate, so 100 Mbit/s and 1 Gbit/s links can be
 *   emulated on one machine.
 *
 * A round that waits on a worker known to be gone (the `lost` probe: heartbeats, exited processes), or that
 * does not complete within `timeoutMs`, fails with PeerLost naming the ranks: the caller decides whether the
 * run goes on without them (elastic) or ends.
 */
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { badInput, HoneError } from '../errors.js';
import type { Collective } from './compress.js';

/** `nats://host:port` for what a user typed (host, host:port or a nats:// URL). */
export function natsUrl(text: string): string {
  const t = text.trim();
  if (!t) throw badInput('--nats needs a server URL such as nats://127.0.0.1:4222');
  const withScheme = /^[a-z]+:\/\//i.test(t) ? t : `nats://${t}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw badInput(`'${text}' is not a NATS server URL; use nats://HOST:PORT, e.g. nats://127.0.0.1:4222`);
  }
  if (u.protocol !== 'nats:') throw badInput(`'${text}' is not a NATS server URL; use nats://HOST:PORT, e.g. nats://127.0.0.1:4222`);
  return `nats://${u.hostname}:${u.port || '4222'}`;
}

/** A connection to the server at `url`, or a one-line error naming it. Own messages are not echoed back. */
export async function connectNats(url: string, name: string): Promise<NatsConnection> {
  try {
    return await connect({ servers: url.replace(/^nats:\/\//, ''), name, noEcho: true, timeout: 5000, maxReconnectAttempts: 10 });
  } catch (e) {
    const why = (e as Error)?.message ?? String(e);
    throw badInput(`cannot reach the NATS server at ${url} (${why}); start one ('nats-server -js') or point --nats at yours`, e);
  }
}

/** A link's egress limit: bytes leave at `bytesPerSec`, in bursts of at most `burst` bytes. */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();
  constructor(
    readonly bytesPerSec: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }
  /** Resolves when `n` bytes may leave (at once for a bucket that holds them). */
  async take(n: number): Promise<void> {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.bytesPerSec);
    this.last = now;
    this.tokens -= n;
    if (this.tokens < 0) {
      const waitMs = (-this.tokens / this.bytesPerSec) * 1000;
      await new Promise((r) => setTimeout(r, waitMs));
      this.last += waitMs;
      this.tokens = 0;
    }
  }
}

/** `100mbit`, `1gbit`, `12.5MB` (bytes) per second as bytes per second. */
export function parseBandwidth(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(k|m|g)?(bit|b)(?:\/s|ps)?$/i.exec(text.trim());
  if (!m) throw badInput(`--bandwidth must be a rate such as 100mbit, 1gbit or 50MB (per second), got '${text}'`);
  const scale = { k: 1e3, m: 1e6, g: 1e9 }[(m[2] ?? '').toLowerCase() as 'k' | 'm' | 'g'] ?? 1;
  const bits = m[3] === 'bit' || m[3] === 'Bit';
  const v = (Number(m[1]) * scale) / (bits ? 8 : 1);
  if (!(v > 0)) throw badInput(`--bandwidth must be above 0, got '${text}'`);
  return v;
}

export interface CollectiveOptions {
  /** Largest chunk published (default: the server's max payload). */
  chunkBytes?: number;
  /** Egress limit (the bench's emulated link). */
  limit?: TokenBucket;
  /** A round not complete after this long fails, naming the missing ranks (default 30 s). */
  timeoutMs?: number;
  /**
   * Of the ranks a round still waits for, those known to be gone (stale heartbeats, an exited process):
   * asked every second while a round waits; any → the round fails with PeerLost at once.
   */
  lost?: (missing: number[]) => Promise<number[]>;
}

interface Pending {
  parts: (Uint8Array | undefined)[];
  /** Messages of this round still arriving in chunks, by rank. */
  chunks: Map<number, Reassembly>;
  missing: number;
  resolve?: (v: Uint8Array[]) => void;
}

/** All-gather over core NATS among one generation's workers. */
export class NatsCollective implements Collective {
  /** Payload bytes this worker has published. */
  bytesSent = 0;
  /** Messages (chunks) this worker has published. */
  messages = 0;
  private round = 0;
  private readonly rounds = new Map<number, Pending>();
  private readonly sub: Subscription;
  private readonly prefix: string;
  private readonly chunkBytes: number;
  private failed: Error | undefined;
  private readonly failures = new Set<(e: Error) => void>();

  constructor(
    private readonly nc: NatsConnection,
    run: string,
    readonly generation: number,
    readonly rank: number,
    readonly world: number,
    private readonly opts: CollectiveOptions = {},
  ) {
    this.prefix = `hone.dp.${run}.${generation}`;
    this.chunkBytes = Math.max(1024, opts.chunkBytes ?? maxPayload(nc));
    this.sub = nc.subscribe(`${this.prefix}.>`, {
      callback: (err, msg) => {
        if (err) return this.fail(err);
        const [round, rank, chunk, count] = msg.subject
          .slice(this.prefix.length + 1)
          .split('.')
          .map(Number) as [number, number, number, number];
        this.receive(round, rank, chunk, count, msg.data);
      },
    });
  }

  /** Resolves when the subscription is registered with the server (before the rendezvous says ready). */
  async ready(): Promise<void> {
    await this.nc.flush();
  }

  async allgather(message: Uint8Array): Promise<Uint8Array[]> {
    if (this.failed) throw this.failed;
    const round = this.round++;
    const p = this.pending(round);
    p.parts[this.rank] = message;
    p.missing--;
    const chunks = pieces(message, this.chunkBytes);
    for (const [c, piece] of chunks.entries()) {
      if (this.opts.limit) await this.opts.limit.take(piece.length);
      this.nc.publish(`${this.prefix}.${round}.${this.rank}.${c}.${chunks.length}`, piece);
      this.bytesSent += piece.length;
      this.messages++;
    }
    if (p.missing === 0) return this.finish(round, p);
    return new Promise<Uint8Array[]>((resolve, reject) => {
      const timeoutMs = this.opts.timeoutMs ?? 30_000;
      const missing = () => p.parts.flatMap((x, r) => (x ? [] : [r]));
      const done = () => {
        clearTimeout(timer);
        clearInterval(probe);
        this.failures.delete(onFail);
      };
      const timer = setTimeout(() => {
        done();
        reject(new PeerLost(missing(), round, `no message within ${(timeoutMs / 1000).toFixed(0)} s`));
      }, timeoutMs);
      const lost = this.opts.lost;
      let probing = false;
      const probe = setInterval(() => {
        if (!lost || probing) return;
        probing = true;
        lost(missing())
          .then((gone) => {
            if (gone.length && p.missing > 0) {
              done();
              reject(new PeerLost(gone, round, 'its heartbeat stopped'));
            }
          })
          .catch(() => {})
          .finally(() => {
            probing = false;
          });
      }, 1000);
      const onFail = (e: Error) => {
        done();
        reject(e);
      };
      this.failures.add(onFail);
      p.resolve = (v) => {
        done();
        resolve(v);
      };
    });
  }

  /** Fails every waiting and later round with `e` (the run was stopped, a peer was declared dead). */
  fail(e: Error): void {
    this.failed ??= e;
    for (const f of this.failures) f(e);
    this.failures.clear();
  }

  close(): void {
    this.sub.unsubscribe();
  }

  private pending(round: number): Pending {
    let p = this.rounds.get(round);
    if (!p) {
      p = { parts: new Array(this.world).fill(undefined), chunks: new Map(), missing: this.world };
      this.rounds.set(round, p);
    }
    return p;
  }

  private receive(round: number, rank: number, chunk: number, count: number, data: Uint8Array): void {
    if (!(rank >= 0 && rank < this.world) || rank === this.rank) return;
    const p = this.pending(round);
    if (p.parts[rank]) return;
    let r = p.chunks.get(rank);
    if (!r) p.chunks.set(rank, (r = new Reassembly(count)));
    const whole = r.add(chunk, data);
    if (!whole) return;
    p.chunks.delete(rank);
    p.parts[rank] = whole;
    p.missing--;
    if (p.missing === 0 && p.resolve) p.resolve(this.finish(round, p));
  }

  private finish(round: number, p: Pending): Uint8Array[] {
    this.rounds.delete(round);
    return p.parts as Uint8Array[];
  }
}

/** The largest payload the server takes (1 MiB unless configured otherwise). */
function maxPayload(nc: NatsConnection): number {
  return nc.info?.max_payload ?? 1 << 20;
}

/** `bytes` as pieces of at most `size` bytes: one (perhaps empty) for a short message. */
function pieces(bytes: Uint8Array, size: number): Uint8Array[] {
  const count = Math.max(1, Math.ceil(bytes.length / size));
  return Array.from({ length: count }, (_, c) => bytes.subarray(c * size, Math.min(bytes.length, (c + 1) * size)));
}

/**
 * One chunked message as its pieces arrive (duplicates ignored): `add` returns the whole message once all are
 * in, 4-byte aligned so codecs can view f32/u32 runs in place. The client's message views start anywhere in
 * its read buffer, so a lone piece is copied where it is not aligned (with `new Uint8Array`: a Buffer's
 * slice() would share memory); several are joined into a new array.
 */
class Reassembly {
  private got = 0;
  private readonly parts: (Uint8Array | undefined)[];
  constructor(count: number) {
    this.parts = new Array(count);
  }
  add(index: number, data: Uint8Array): Uint8Array | undefined {
    if (this.parts[index]) return undefined;
    this.parts[index] = data;
    if (++this.got < this.parts.length) return undefined;
    if (this.parts.length === 1) return data.byteOffset % 4 === 0 ? data : new Uint8Array(data);
    return concat(this.parts as Uint8Array[]);
  }
}

/** Sends `bytes` to whoever subscribes to `<subject>.…` now, as chunks `<subject>.<chunk>.<chunks>`. */
export async function publishBlob(nc: NatsConnection, subject: string, bytes: Uint8Array): Promise<void> {
  const chunks = pieces(bytes, maxPayload(nc));
  for (const [c, piece] of chunks.entries()) nc.publish(`${subject}.${c}.${chunks.length}`, piece);
  await nc.flush();
}

/** Blobs published with publishBlob under `<prefix>.<key>`: `get(key)` resolves once all its chunks are in. */
export class BlobInbox {
  private readonly arriving = new Map<string, Reassembly>();
  private readonly arrived = new Map<string, Uint8Array>();
  private readonly waiting = new Map<string, (b: Uint8Array) => void>();
  private readonly sub: Subscription;
  constructor(
    private readonly nc: NatsConnection,
    prefix: string,
  ) {
    this.sub = nc.subscribe(`${prefix}.>`, {
      callback: (_err, msg) => {
        const [key, chunk, count] = msg.subject.slice(prefix.length + 1).split('.') as [string, string, string];
        let r = this.arriving.get(key);
        if (!r) this.arriving.set(key, (r = new Reassembly(Number(count))));
        const whole = r.add(Number(chunk), msg.data);
        if (!whole) return;
        this.arriving.delete(key);
        this.arrived.set(key, whole);
        this.waiting.get(key)?.(whole);
      },
    });
  }
  /** Resolves when the subscription is registered with the server: only then may a sender be told to send. */
  async ready(): Promise<void> {
    await this.nc.flush();
  }
  get(key: string, timeoutMs: number): Promise<Uint8Array> {
    const whole = this.arrived.get(key);
    if (whole) return Promise.resolve(whole);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new HoneError(`the run's state for generation ${key} did not arrive within ${timeoutMs / 1000} s`, 1)),
        timeoutMs,
      );
      this.waiting.set(key, (b) => {
        clearTimeout(t);
        resolve(b);
      });
    });
  }
  close(): void {
    this.sub.unsubscribe();
  }
}

/** Workers gone mid-run (ranks of the generation): a round that cannot complete. */
export class PeerLost extends HoneError {
  constructor(
    readonly ranks: number[],
    readonly round: number,
    why: string,
  ) {
    super(`worker(s) ${ranks.join(', ')} stopped responding at exchange round ${round} (${why})`, 1);
  }
}

function concat(pieces: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of pieces) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
