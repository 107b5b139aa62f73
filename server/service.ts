import type { Logger } from 'pino';
import { createApp, type App, type AppOptions, type WriterRole } from './app.js';
import type { Config } from './config.js';
import { Executor } from './storage/executor.js';
import { migrate } from './storage/migrate.js';
import { openStorage, type Storage } from './storage/client.js';
import { features } from './features.js';
import { Erasures, type ErasureOptions } from './ingest/erasures.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AckLog, AckLogDamagedError } from './ingest/ack-log.js';
import { EventWriter } from './ingest/writer.js';
import { WebhookOutbox } from './notifications/outbox.js';
import { listenError, preflight, StartupError } from './preflight.js';
import { systemClock, type Clock } from './snapshots/scheduler.js';
import { IngestDisabledError } from './storage/errors.js';
import { WriterLease } from './storage/lease.js';
import { applyCommentRetention } from './storage/comment-retention.js';
import { knownZones } from '../loaders/args.js';

export interface Service {
  app: App;
  exec: Executor;
  storage: Storage;
  url: string;
  /** Resolves once the at-risk job and the webhook worker have no run in progress (tests wait for deliveries). */
  webhooksIdle(): Promise<void>;
  stop(): Promise<void>;
}

export function createExecutor(storage: Storage, config: Config, log: Logger): Executor {
  return new Executor(storage, { maxExecutionTimeS: config.queryMaxExecutionTimeS, maxMemoryBytes: config.queryMaxMemoryBytes, maxRetries: config.maxRetries }, log);
}

/** Opens storage, applies migrations, serves HTTP. The same path runs in production and in tests. */
export async function startService(
  config: Config,
  log: Logger,
  extra: Pick<AppOptions, 'now'> & Pick<ErasureOptions, 'afterStep'> & { clock?: Clock } = {},
): Promise<Service> {
  const clock = extra.clock ?? systemClock;
  const lock = await preflight(config);
  let storage: Storage;
  try {
    storage = await openStorage(config);
  } catch (e) {
    lock?.release();
    throw e;
  }
  const exec = createExecutor(storage, config, log);
  let lease: WriterLease | undefined;
  try {
    const result = await migrate(exec, { onApply: (name) => log.info({ migration: name }, 'migration applied') });
    log.info({ applied: result.applied.length, alreadyApplied: result.alreadyApplied }, 'schema up to date');
    // The engine's own zone names, so that a link (US/Eastern) or a name in another case is
    // answered as the engine loads it (loaders/args.ts, checkTimezone). A server too old for the
    // table keeps ECMA-402's names.
    const zones = await exec
      .rows<{ name: string }>({ query: 'SELECT time_zone AS name FROM system.time_zones', query_params: {} }, { requestId: 'start' })
      .catch(() => []);
    knownZones(zones.map((z) => z.name));
    // One writer per database (docs/architecture.md, "One writer"): embedded, the DATA_DIR lock
    // already makes this process the only one; on a server, the writer lease decides. A read
    // replica (INGEST=off) never writes.
    const held =
      config.ingest && storage.mode === 'server'
        ? new WriterLease(exec, { ...config.writerLease, clock, replicated: storage.cluster !== undefined })
        : undefined;
    lease = held;
    const outbox = new WebhookOutbox(exec, () => clock.now());
    const erasures = new Erasures(exec, { key: config.erasureHmacKey, now: extra.now, afterStep: extra.afterStep });
    // Embedded, events are acknowledged once in the writer's log and applied behind it; the
    // groups a stop or crash left unapplied are applied before anything else. One log per
    // database: tests serve several from one DATA_DIR.
    const logDir = join(config.dataDir, 'ingest-log', storage.database);
    const openLog = () =>
      AckLog.open(logDir).catch((e: unknown) => {
        throw e instanceof AckLogDamagedError ? new StartupError(e.message) : e;
      });
    const ackLog = config.ingest && config.ingestLog && storage.mode === 'embedded' ? await openLog() : undefined;
    if (!ackLog && storage.mode === 'embedded' && existsSync(logDir)) {
      // Turned off with acknowledged events still in the log: they would never be stored.
      const left = await openLog();
      await left.log.close();
      if (left.unapplied.length > 0) {
        throw new StartupError(
          `${left.log.path} holds ${left.unapplied.length} acknowledged groups of events not yet stored, and INGEST_LOG is off${config.ingest ? '' : ' (or INGEST=off)'}: start once with INGEST_LOG on to store them, then turn it off`,
        );
      }
    }
    if (ackLog && ackLog.unapplied.length > 0) log.info({ groups: ackLog.unapplied.length, file: ackLog.log.path }, 'applying the acknowledged events the ingest log still holds');
    const writer = new EventWriter(exec, {
      log: ackLog,
      onApplyError: (err) => log.error({ err }, 'acknowledged events could not be stored from the ingest log; retrying'),
      checkStates: storage.cluster === undefined,
      erasures,
      mayWrite: !config.ingest
        ? (requestId) => {
            throw new IngestDisabledError(requestId);
          }
        : held && ((requestId) => held.check(requestId)),
      notifier: outbox,
      onNotifyError: (err) => log.error({ err }, 'survey.detractor could not be queued; the responses are stored'),
    });
    exec.readBarrier = (ctx) => writer.visible(ctx);
    const retention = { days: config.commentRetentionDays, checkedAt: undefined as Date | undefined };
    // What the writer does before its first write: a crash in the middle of an insert can leave
    // a state short of its raw rows, so compare (and repair) them; make the survey table enforce
    // the configured comment retention; finish an erasure a crash interrupted; load the filter of
    // stored eventIds (a takeover: the previous writer may have stored more). A failure of any is
    // logged: the writer then refuses writes and /readyz says why, or the retention is applied at
    // the next start.
    const becomeWriter = async (checkStates: boolean) => {
      if (checkStates) {
        await writer.verifyStates('mismatched', 'start', { requestId: 'start' }).then(
          (checks) => log.info({ states: writer.health().lastCheck }, checks.some((c) => c.repaired.length > 0) ? 'pre-aggregated states repaired' : 'pre-aggregated states exact'),
          (e: unknown) => log.error({ err: e }, 'pre-aggregated states could not be checked'),
        );
      }
      await applyCommentRetention(exec, config.commentRetentionDays).then(
        (change) => {
          retention.checkedAt = clock.now();
          if (change.changed) log.info({ from: change.from ?? 'forever', to: change.to ?? 'forever' }, 'survey comment retention changed');
        },
        (e: unknown) => log.error({ err: e }, 'survey comment retention could not be applied'),
      );
      // If it cannot be finished (no key, storage down), the writer refuses writes and retries it
      // before each write.
      await writer.finishErasures({ requestId: 'start' }).catch(
        (e: unknown) => log.error({ err: e }, 'an unfinished erasure could not be finished'),
      );
      // The stored eventIds' filter, ahead of the first write; should it fail, the first write loads it.
      const started = performance.now();
      await writer.loadKeys({ requestId: 'start' }).then(
        () => log.info({ ms: Math.round(performance.now() - started) }, 'eventId filter loaded'),
        (e: unknown) => log.error({ err: e }, 'the eventId filter could not be loaded; the first write loads it'),
      );
    };
    if (held) {
      await held.start();
      if (held.holding) log.info({ holder: held.identity.id }, 'writer lease taken');
      else log.warn({ reason: held.describe() }, 'standby: ingest is refused until the writer lease expires and this instance takes it over');
      // A takeover later on: the previous holder may have died in the middle of an insert.
      held.onAcquired(() => {
        log.info({ holder: held.identity.id }, 'writer lease taken over');
        void becomeWriter(storage.cluster === undefined);
      });
    }
    const feature = await features({ config, exec, writer, log, clock, retention, now: extra.now, outbox });
    if (config.ingest && (held === undefined || held.holding)) {
      // Embedded, a lock file left behind by a process that is gone marks a stop that was not
      // clean (a clean stop with exact states removes it); a server may have crashed on its own.
      await becomeWriter(storage.cluster === undefined && (lock === undefined || lock.unclean));
    }
    const writerRole = (): WriterRole => {
      if (!config.ingest) return { role: 'replica', detail: 'INGEST=off: this instance stores no events' };
      if (held === undefined) return { role: 'writer', detail: 'the only process serving this DATA_DIR (its lock file)' };
      return { role: held.holding ? 'writer' : 'standby', detail: held.describe() };
    };
    const app = await createApp({ config, exec, writer, log, now: extra.now, notifier: outbox, routes: feature.routes, plugins: feature.plugins, writerRole });
    const { port, host } = await app.listen().catch(async (e: unknown) => {
      await feature.stop();
      await app.apollo.stop();
      throw listenError(config.host, config.port, e);
    });
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    lock?.update(url);
    let stopping: Promise<void> | undefined;
    return {
      app,
      exec,
      storage,
      url,
      webhooksIdle: () => feature.notificationsIdle(),
      stop() {
        stopping ??= (async () => {
          await app.close();
          await feature.stop();
          await writer.close();
          // Nothing writes any more: a standby may take over at once.
          await lease?.stop();
          await storage.close();
          // Kept while the states may be short, so the next start checks them.
          lock?.release({ keep: writer.health().problem !== undefined });
        })();
        return stopping;
      },
    };
  } catch (e) {
    await lease?.stop();
    await storage.close();
    lock?.release();
    throw e;
  }
}
