/** Live gateway connections on Kysely: one row per connection, owned by one replica (0004_live_connections.ts). */
import type { Kysely, Selectable } from 'kysely';
import type { LiveChannelRecord, LiveConnectionRecord, LiveConnectionRepository } from './repositories.ts';
import { toInt, toIntOrNull } from './row-values.ts';
import type { Database, LiveConnectionsTable } from './schema.ts';

/** Rows per INSERT statement (bounds the statement's parameters: 13 columns each). */
const UPSERT_BATCH = 200;

/** The live-connections repository over a Kysely database. */
export function liveConnectionsRepository(db: Kysely<Database>): LiveConnectionRepository {
  return {
    async heartbeat(replicaId, startedAt, now) {
      await db
        .insertInto('live_replicas')
        .values({ id: replicaId, started_at: startedAt, heartbeat_at: now })
        .onConflict((oc) => oc.column('id').doUpdateSet({ heartbeat_at: now }))
        .execute();
    },

    async upsert(rows) {
      for (let i = 0; i < rows.length; i += UPSERT_BATCH) {
        const values = rows.slice(i, i + UPSERT_BATCH).map((r) => ({
          id: r.id, replica_id: r.replicaId, user_name: r.userName, method: r.method, serial: r.serial, client_address: r.clientAddress,
          opened_at: r.openedAt, sessions: r.sessions, channels: JSON.stringify(r.channels), bytes_in: r.bytesIn, bytes_out: r.bytesOut, updated_at: r.updatedAt,
        }));
        await db
          .insertInto('live_connections')
          .values(values)
          .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({
            sessions: eb.ref('excluded.sessions'), channels: eb.ref('excluded.channels'), bytes_in: eb.ref('excluded.bytes_in'),
            bytes_out: eb.ref('excluded.bytes_out'), updated_at: eb.ref('excluded.updated_at'),
          })))
          .execute();
      }
    },

    async remove(ids) {
      for (let i = 0; i < ids.length; i += UPSERT_BATCH) {
        await db.deleteFrom('live_connections').where('id', 'in', ids.slice(i, i + UPSERT_BATCH)).execute();
      }
    },

    async list(aliveSince) {
      const rows = await db
        .selectFrom('live_connections')
        .innerJoin('live_replicas', 'live_replicas.id', 'live_connections.replica_id')
        .selectAll('live_connections')
        .where('live_replicas.heartbeat_at', '>=', aliveSince)
        .orderBy('live_connections.opened_at', 'desc')
        .orderBy('live_connections.id', 'asc')
        .execute();
      return rows.map(toRecord);
    },

    async requestEnd(id, by, now, aliveSince) {
      const alive = db.selectFrom('live_replicas').select('id').where('heartbeat_at', '>=', aliveSince);
      const result = await db
        .updateTable('live_connections')
        .set({ end_requested_at: now, end_requested_by: by })
        .where('id', '=', id)
        .where('end_requested_at', 'is', null)
        .where('replica_id', 'in', alive)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },

    async endRequests(replicaId) {
      const rows = await db
        .selectFrom('live_connections')
        .select(['id', 'end_requested_by'])
        .where('replica_id', '=', replicaId)
        .where('end_requested_at', 'is not', null)
        .execute();
      return rows.map((r) => ({ id: r.id, by: r.end_requested_by ?? '' }));
    },

    async removeReplicas(options) {
      let q = db.deleteFrom('live_replicas');
      if (options.id !== undefined) q = q.where('id', '=', options.id);
      else if (options.before !== undefined) q = q.where('heartbeat_at', '<', options.before);
      else return;
      // The connections go by cascade; deleted explicitly too, in case foreign keys are off.
      await q.execute();
      const replicas = db.selectFrom('live_replicas').select('id');
      await db.deleteFrom('live_connections').where('replica_id', 'not in', replicas).execute();
    },
  };
}

function toChannels(text: string): LiveChannelRecord[] {
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? (v as LiveChannelRecord[]) : [];
  } catch {
    return [];
  }
}

function toRecord(row: Selectable<LiveConnectionsTable>): LiveConnectionRecord {
  return {
    id: row.id, replicaId: row.replica_id, userName: row.user_name, method: row.method, serial: row.serial, clientAddress: row.client_address,
    openedAt: toInt(row.opened_at, 'live_connections.opened_at'), sessions: toInt(row.sessions, 'live_connections.sessions'),
    channels: toChannels(row.channels), bytesIn: toInt(row.bytes_in, 'live_connections.bytes_in'), bytesOut: toInt(row.bytes_out, 'live_connections.bytes_out'),
    updatedAt: toInt(row.updated_at, 'live_connections.updated_at'),
    endRequestedAt: toIntOrNull(row.end_requested_at, 'live_connections.end_requested_at'), endRequestedBy: row.end_requested_by,
  };
}
