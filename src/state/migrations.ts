// The one migration set, shared by every backend. Append new migrations; never edit what an
// old one does on SQLite (databases in the field ran them); their PostgreSQL branches were set
// before any PostgreSQL database existed.
//
// On PostgreSQL every string column is `text collate "C"`: SQLite compares and orders strings
// byte by byte (BINARY) and enforces no varchar length, and so must PostgreSQL, whatever the
// database's default collation — tag and repository pagination (`order by name`, `name > $last`)
// and every ISO-timestamp comparison depend on it. Ids are identity columns (never reused, as
// SQLite's AUTOINCREMENT); 0/1 integers stand for booleans on both.
import { sql, type Kysely, type Migration } from 'kysely';

export type Dialect = 'sqlite' | 'postgres';

type StringType = 'text' | `varchar(${number})`;

/** A string column: as declared on SQLite; unbounded, byte-ordered text on PostgreSQL. */
const str = (dialect: Dialect, type: StringType) => (dialect === 'postgres' ? sql`text collate "C"` : type);

export const migrationsFor = (dialect: Dialect): Record<string, Migration> => ({
  '0001_registry': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('repositories')
        .addColumn('id', 'integer', (c) =>
          dialect === 'postgres'
            ? c.primaryKey().generatedByDefaultAsIdentity()
            : c.primaryKey().autoIncrement(),
        )
        .addColumn('name', str(dialect, 'varchar(255)'), (c) => c.notNull().unique())
        .addColumn('created_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('blobs')
        .addColumn('digest', str(dialect, 'varchar(200)'), (c) => c.primaryKey())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('created_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('repository_blobs')
        .addColumn('repository_id', 'integer', (c) =>
          c.notNull().references('repositories.id').onDelete('cascade'),
        )
        .addColumn('digest', str(dialect, 'varchar(200)'), (c) => c.notNull())
        .addColumn('created_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .addPrimaryKeyConstraint('repository_blobs_pk', ['repository_id', 'digest'])
        .execute();
      await db.schema
        .createIndex('repository_blobs_digest')
        .on('repository_blobs')
        .column('digest')
        .execute();
      await db.schema
        .createTable('manifests')
        .addColumn('repository_id', 'integer', (c) =>
          c.notNull().references('repositories.id').onDelete('cascade'),
        )
        .addColumn('digest', str(dialect, 'varchar(200)'), (c) => c.notNull())
        .addColumn('media_type', str(dialect, 'varchar(255)'), (c) => c.notNull())
        .addColumn('artifact_type', str(dialect, 'varchar(255)'))
        .addColumn('subject_digest', str(dialect, 'varchar(200)'))
        .addColumn('annotations', str(dialect, 'text'))
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('created_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .addPrimaryKeyConstraint('manifests_pk', ['repository_id', 'digest'])
        .execute();
      await db.schema
        .createIndex('manifests_subject')
        .on('manifests')
        .columns(['repository_id', 'subject_digest'])
        .execute();
      await db.schema
        .createTable('manifest_references')
        .addColumn('repository_id', 'integer', (c) => c.notNull())
        .addColumn('manifest_digest', str(dialect, 'varchar(200)'), (c) => c.notNull())
        .addColumn('child_digest', str(dialect, 'varchar(200)'), (c) => c.notNull())
        .addColumn('kind', str(dialect, 'varchar(16)'), (c) => c.notNull())
        .addPrimaryKeyConstraint('manifest_references_pk', [
          'repository_id',
          'manifest_digest',
          'child_digest',
        ])
        .execute();
      await db.schema
        .createIndex('manifest_references_child')
        .on('manifest_references')
        .column('child_digest')
        .execute();
      await db.schema
        .createTable('tags')
        .addColumn('repository_id', 'integer', (c) =>
          c.notNull().references('repositories.id').onDelete('cascade'),
        )
        .addColumn('name', str(dialect, 'varchar(128)'), (c) => c.notNull())
        .addColumn('manifest_digest', str(dialect, 'varchar(200)'), (c) => c.notNull())
        .addColumn('updated_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .addPrimaryKeyConstraint('tags_pk', ['repository_id', 'name'])
        .execute();
      await db.schema
        .createTable('uploads')
        .addColumn('id', str(dialect, 'varchar(64)'), (c) => c.primaryKey())
        .addColumn('repository_id', 'integer', (c) =>
          c.notNull().references('repositories.id').onDelete('cascade'),
        )
        .addColumn('started_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .execute();
    },
  },
  '0002_ledger': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('services')
        .addColumn('name', str(dialect, 'varchar(64)'), (c) => c.primaryKey())
        .addColumn('state', str(dialect, 'varchar(16)'), (c) => c.notNull())
        .addColumn('options', str(dialect, 'text'), (c) => c.notNull())
        .addColumn('facts', str(dialect, 'text'), (c) => c.notNull())
        .addColumn('updated_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .addColumn('last_run_id', str(dialect, 'varchar(64)'))
        .execute();
      await db.schema
        .createTable('install_runs')
        .addColumn('id', str(dialect, 'varchar(64)'), (c) => c.primaryKey())
        .addColumn('service', str(dialect, 'varchar(64)'), (c) => c.notNull())
        .addColumn('action', str(dialect, 'varchar(16)'), (c) => c.notNull())
        .addColumn('status', str(dialect, 'varchar(16)'), (c) => c.notNull())
        .addColumn('options', str(dialect, 'text'), (c) => c.notNull())
        .addColumn('steps', str(dialect, 'text'))
        .addColumn('recap', str(dialect, 'text'))
        .addColumn('started_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .addColumn('finished_at', str(dialect, 'varchar(32)'))
        .execute();
      await db.schema
        .createIndex('install_runs_service')
        .on('install_runs')
        .columns(['service', 'started_at'])
        .execute();
      await db.schema
        .createTable('install_events')
        .addColumn('run_id', str(dialect, 'varchar(64)'), (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('event', str(dialect, 'text'), (c) => c.notNull())
        .addPrimaryKeyConstraint('install_events_pk', ['run_id', 'seq'])
        .execute();
      await db.schema
        .createTable('install_artifacts')
        .addColumn('service', str(dialect, 'varchar(64)'), (c) => c.notNull())
        .addColumn('key', str(dialect, 'varchar(512)'), (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('artifact', str(dialect, 'text'), (c) => c.notNull())
        .addColumn('run_id', str(dialect, 'varchar(64)'), (c) => c.notNull())
        .addColumn('created_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .addPrimaryKeyConstraint('install_artifacts_pk', ['service', 'key'])
        .execute();
    },
  },
  '0003_builds': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('builds')
        .addColumn('id', str(dialect, 'varchar(64)'), (c) => c.primaryKey())
        .addColumn('state', str(dialect, 'varchar(16)'), (c) => c.notNull())
        .addColumn('definition', str(dialect, 'text'), (c) => c.notNull())
        .addColumn('images', str(dialect, 'text'), (c) => c.notNull())
        .addColumn('digest', str(dialect, 'varchar(200)'))
        .addColumn('error', str(dialect, 'text'))
        .addColumn('log', str(dialect, 'text'), (c) => c.notNull())
        .addColumn('events', str(dialect, 'text'))
        .addColumn('created_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .addColumn('started_at', str(dialect, 'varchar(32)'))
        .addColumn('finished_at', str(dialect, 'varchar(32)'))
        .execute();
      await db.schema.createIndex('builds_created').on('builds').column('created_at').execute();
    },
  },
  '0004_auth': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('users')
        .addColumn('name', str(dialect, 'varchar(64)'), (c) => c.primaryKey())
        .addColumn('password_hash', str(dialect, 'varchar(255)'), (c) => c.notNull())
        .addColumn('admin', 'integer', (c) => c.notNull())
        .addColumn('created_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('grants')
        .addColumn('subject', str(dialect, 'varchar(80)'), (c) => c.notNull())
        .addColumn('pattern', str(dialect, 'varchar(255)'), (c) => c.notNull())
        .addColumn('actions', str(dialect, 'varchar(64)'), (c) => c.notNull())
        .addColumn('created_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .addPrimaryKeyConstraint('grants_pk', ['subject', 'pattern'])
        .execute();
      await db.schema
        .createTable('api_tokens')
        .addColumn('id', str(dialect, 'varchar(32)'), (c) => c.primaryKey())
        .addColumn('user_name', str(dialect, 'varchar(64)'), (c) =>
          c.notNull().references('users.name').onDelete('cascade'),
        )
        .addColumn('name', str(dialect, 'varchar(64)'), (c) => c.notNull())
        .addColumn('secret_sha256', str(dialect, 'varchar(64)'), (c) => c.notNull())
        .addColumn('scopes', str(dialect, 'text'))
        .addColumn('expires_at', str(dialect, 'varchar(32)'))
        .addColumn('created_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .addColumn('last_used_at', str(dialect, 'varchar(32)'))
        .addColumn('revoked_at', str(dialect, 'varchar(32)'))
        .execute();
    },
  },
  '0005_audit': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('audit')
        .addColumn('id', dialect === 'postgres' ? 'bigint' : 'integer', (c) =>
          dialect === 'postgres'
            ? c.primaryKey().generatedByDefaultAsIdentity()
            : c.primaryKey().autoIncrement(),
        )
        .addColumn('at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .addColumn('actor', str(dialect, 'varchar(80)'), (c) => c.notNull())
        .addColumn('address', str(dialect, 'varchar(64)'), (c) => c.notNull())
        .addColumn('action', str(dialect, 'varchar(64)'), (c) => c.notNull())
        .addColumn('target', str(dialect, 'varchar(512)'), (c) => c.notNull())
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('detail', str(dialect, 'text'))
        .execute();
      await db.schema.createIndex('audit_at').on('audit').column('at').execute();
    },
  },
  '0006_sessions': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('sessions')
        .addColumn('id_sha256', str(dialect, 'varchar(64)'), (c) => c.primaryKey())
        .addColumn('user_name', str(dialect, 'varchar(64)'), (c) =>
          c.notNull().references('users.name').onDelete('cascade'),
        )
        .addColumn('csrf', str(dialect, 'varchar(64)'), (c) => c.notNull())
        .addColumn('created_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .addColumn('expires_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .execute();
    },
  },
  '0007_repository_touched': {
    // When a push last started in the repository: garbage collection removes an empty repository
    // only if nothing touched it within the grace period (a push in progress keeps it).
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('repositories')
        .addColumn('touched_at', str(dialect, 'varchar(32)'))
        .execute();
    },
  },
  '0008_webhooks': {
    // Webhook subscriptions, their queued deliveries (the exact body sent, so a restart resumes
    // and a redelivery repeats it byte for byte) and every attempt with its answer.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('webhooks')
        .addColumn('id', str(dialect, 'varchar(32)'), (c) => c.primaryKey())
        .addColumn('url', str(dialect, 'varchar(2048)'), (c) => c.notNull())
        .addColumn('events', str(dialect, 'text'), (c) => c.notNull())
        .addColumn('repositories', str(dialect, 'varchar(255)'))
        .addColumn('secret', str(dialect, 'varchar(255)'), (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('description', str(dialect, 'varchar(255)'))
        .addColumn('created_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .addColumn('updated_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('id', str(dialect, 'varchar(64)'), (c) => c.primaryKey())
        .addColumn('webhook_id', str(dialect, 'varchar(32)'), (c) =>
          c.notNull().references('webhooks.id').onDelete('cascade'),
        )
        .addColumn('event_id', str(dialect, 'varchar(64)'), (c) => c.notNull())
        .addColumn('event_type', str(dialect, 'varchar(64)'), (c) => c.notNull())
        .addColumn('subject', str(dialect, 'varchar(512)'), (c) => c.notNull())
        .addColumn('payload', str(dialect, 'text'), (c) => c.notNull())
        .addColumn('state', str(dialect, 'varchar(16)'), (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', str(dialect, 'varchar(32)'))
        .addColumn('lease_until', str(dialect, 'varchar(32)'))
        .addColumn('redelivery_of', str(dialect, 'varchar(64)'))
        .addColumn('created_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .addColumn('finished_at', str(dialect, 'varchar(32)'))
        .execute();
      await db.schema
        .createIndex('webhook_deliveries_due')
        .on('webhook_deliveries')
        .columns(['state', 'next_attempt_at'])
        .execute();
      await db.schema
        .createIndex('webhook_deliveries_webhook')
        .on('webhook_deliveries')
        .columns(['webhook_id', 'created_at'])
        .execute();
      await db.schema
        .createTable('webhook_attempts')
        .addColumn('delivery_id', str(dialect, 'varchar(64)'), (c) =>
          c.notNull().references('webhook_deliveries.id').onDelete('cascade'),
        )
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('started_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .addColumn('duration_ms', 'integer', (c) => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('error', str(dialect, 'text'))
        .addColumn('response_excerpt', str(dialect, 'text'))
        .addPrimaryKeyConstraint('webhook_attempts_pk', ['delivery_id', 'attempt'])
        .execute();
    },
  },
  '0009_locks': {
    // Named locks with an owner and an expiry, for work only one process at a time may do
    // (garbage collection) when several processes share one SQLite file. PostgreSQL has advisory
    // locks for that and leaves this table empty.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('locks')
        .addColumn('name', str(dialect, 'varchar(128)'), (c) => c.primaryKey())
        .addColumn('owner', str(dialect, 'varchar(64)'), (c) => c.notNull())
        .addColumn('acquired_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .addColumn('expires_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .execute();
    },
  },
  '0010_secrets': {
    // Secrets every node sharing the state must agree on (the key signing registry tokens when
    // the state is in PostgreSQL; a SQLite node keeps its key file in the data dir).
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('secrets')
        .addColumn('name', str(dialect, 'varchar(64)'), (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('created_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .execute();
    },
  },
  '0011_build_columns': {
    // The repository and the BuildKit daemon of each build as columns: the history filters by
    // repository, and a pool of workers says where each build ran. Old rows get their repository
    // from the recorded definition.
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('builds').addColumn('repository', str(dialect, 'varchar(255)')).execute();
      await db.schema.alterTable('builds').addColumn('worker', str(dialect, 'varchar(512)')).execute();
      const fromDefinition =
        dialect === 'postgres'
          ? sql`update builds set repository = definition::json->>'repository'`
          : sql`update builds set repository = json_extract(definition, '$.repository')`;
      await fromDefinition.execute(db);
      await db.schema
        .createIndex('builds_repository_created')
        .on('builds')
        .columns(['repository', 'created_at'])
        .execute();
    },
  },
  '0012_build_requester': {
    // Who asked for each build: a build is read, followed, cancelled and repeated by its
    // requester (and admins), and queued builds are counted per user. Older rows stay null
    // (requested before authentication recorded it): only admins see those as their own.
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('builds').addColumn('requested_by', str(dialect, 'varchar(64)')).execute();
      await db.schema
        .createIndex('builds_requested_by_state')
        .on('builds')
        .columns(['requested_by', 'state'])
        .execute();
    },
  },
  '0013_credentials_and_upload_owners': {
    // When each user's password last changed (registry tokens issued before it are refused on
    // their next use), who opened each upload session, and the indexes that count open sessions
    // per repository and per opener and find a user's web sessions.
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('users')
        .addColumn('credentials_changed_at', str(dialect, 'varchar(32)'))
        .execute();
      await db.schema.alterTable('uploads').addColumn('opened_by', str(dialect, 'varchar(128)')).execute();
      await db.schema
        .createIndex('uploads_repository_started')
        .on('uploads')
        .columns(['repository_id', 'started_at'])
        .execute();
      await db.schema
        .createIndex('uploads_opened_by_started')
        .on('uploads')
        .columns(['opened_by', 'started_at'])
        .execute();
      await db.schema.createIndex('sessions_user').on('sessions').column('user_name').execute();
    },
  },
  '0014_change_notifications': {
    // PostgreSQL: every committed change to what the read caches keep (pg-generation.ts) is
    // announced on the channel opencloud_state, one notification per transaction (PostgreSQL folds
    // equal ones), at commit. Columns written on every use (an API token's last_used_at) are left
    // out, so using a token does not empty every node's caches. SQLite needs nothing: its
    // connections see each other's commits through PRAGMA data_version.
    async up(db: Kysely<unknown>) {
      if (dialect !== 'postgres') return;
      await sql`create function opencloud_state_changed() returns trigger language plpgsql as $$
        begin perform pg_notify('opencloud_state', ''); return null; end $$`.execute(db);
      const watched: [table: string, events: string][] = [
        ['repositories', 'insert or update or delete'],
        ['blobs', 'insert or update or delete'],
        ['repository_blobs', 'insert or update or delete'],
        ['manifests', 'insert or update or delete'],
        ['tags', 'insert or update or delete'],
        ['users', 'insert or delete or update of credentials_changed_at'],
        ['api_tokens', 'insert or delete or update of revoked_at, expires_at'],
      ];
      for (const [table, events] of watched) {
        await sql
          .raw(
            `create trigger ${table}_changed after ${events} on ${table} ` +
              'for each statement execute function opencloud_state_changed()',
          )
          .execute(db);
      }
    },
  },
  '0015_manifest_pulls': {
    // When each manifest was last pulled (a GET of its bytes), written in batches by the registry
    // (registry/pull-times.ts). Its own table, with no change trigger: pull times are not what the
    // read caches keep, so recording them never empties another node's caches. Gone with the
    // manifest.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('manifest_pulls')
        .addColumn('repository_id', 'integer', (c) => c.notNull())
        .addColumn('digest', str(dialect, 'varchar(200)'), (c) => c.notNull())
        .addColumn('pulled_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .addPrimaryKeyConstraint('manifest_pulls_pk', ['repository_id', 'digest'])
        .addForeignKeyConstraint(
          'manifest_pulls_manifest',
          ['repository_id', 'digest'],
          'manifests',
          ['repository_id', 'digest'],
          (fk) => fk.onDelete('cascade'),
        )
        .execute();
    },
  },
  '0016_policies': {
    // Policies as code (src/policies): one row per rule, by kind and repository pattern, its
    // settings as JSON. The ledger document carries them between instances.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('policies')
        .addColumn('kind', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .addColumn('repositories', str(dialect, 'varchar(255)'), (c) => c.notNull())
        .addColumn('rule', str(dialect, 'text'), (c) => c.notNull())
        .addColumn('created_at', str(dialect, 'varchar(32)'), (c) => c.notNull())
        .addPrimaryKeyConstraint('policies_pk', ['kind', 'repositories'])
        .execute();
    },
  },
});
