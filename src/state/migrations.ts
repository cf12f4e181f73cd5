// The one migration set, shared by every backend. Append new migrations; never edit old ones.
import type { Kysely, Migration } from 'kysely';

export type Dialect = 'sqlite' | 'postgres';

export const migrationsFor = (dialect: Dialect): Record<string, Migration> => ({
  '0001_registry': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('repositories')
        .addColumn('id', dialect === 'postgres' ? 'serial' : 'integer', (c) =>
          dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('blobs')
        .addColumn('digest', 'varchar(200)', (c) => c.primaryKey())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('repository_blobs')
        .addColumn('repository_id', 'integer', (c) =>
          c.notNull().references('repositories.id').onDelete('cascade'),
        )
        .addColumn('digest', 'varchar(200)', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
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
        .addColumn('digest', 'varchar(200)', (c) => c.notNull())
        .addColumn('media_type', 'varchar(255)', (c) => c.notNull())
        .addColumn('artifact_type', 'varchar(255)')
        .addColumn('subject_digest', 'varchar(200)')
        .addColumn('annotations', 'text')
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
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
        .addColumn('manifest_digest', 'varchar(200)', (c) => c.notNull())
        .addColumn('child_digest', 'varchar(200)', (c) => c.notNull())
        .addColumn('kind', 'varchar(16)', (c) => c.notNull())
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
        .addColumn('name', 'varchar(128)', (c) => c.notNull())
        .addColumn('manifest_digest', 'varchar(200)', (c) => c.notNull())
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .addPrimaryKeyConstraint('tags_pk', ['repository_id', 'name'])
        .execute();
      await db.schema
        .createTable('uploads')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('repository_id', 'integer', (c) =>
          c.notNull().references('repositories.id').onDelete('cascade'),
        )
        .addColumn('started_at', 'varchar(32)', (c) => c.notNull())
        .execute();
    },
  },
  '0002_ledger': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('services')
        .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('state', 'varchar(16)', (c) => c.notNull())
        .addColumn('options', 'text', (c) => c.notNull())
        .addColumn('facts', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('last_run_id', 'varchar(64)')
        .execute();
      await db.schema
        .createTable('install_runs')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('service', 'varchar(64)', (c) => c.notNull())
        .addColumn('action', 'varchar(16)', (c) => c.notNull())
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('options', 'text', (c) => c.notNull())
        .addColumn('steps', 'text')
        .addColumn('recap', 'text')
        .addColumn('started_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('finished_at', 'varchar(32)')
        .execute();
      await db.schema
        .createIndex('install_runs_service')
        .on('install_runs')
        .columns(['service', 'started_at'])
        .execute();
      await db.schema
        .createTable('install_events')
        .addColumn('run_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('install_events_pk', ['run_id', 'seq'])
        .execute();
      await db.schema
        .createTable('install_artifacts')
        .addColumn('service', 'varchar(64)', (c) => c.notNull())
        .addColumn('key', 'varchar(512)', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('artifact', 'text', (c) => c.notNull())
        .addColumn('run_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addPrimaryKeyConstraint('install_artifacts_pk', ['service', 'key'])
        .execute();
    },
  },
  '0003_builds': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('builds')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('state', 'varchar(16)', (c) => c.notNull())
        .addColumn('definition', 'text', (c) => c.notNull())
        .addColumn('images', 'text', (c) => c.notNull())
        .addColumn('digest', 'varchar(200)')
        .addColumn('error', 'text')
        .addColumn('log', 'text', (c) => c.notNull())
        .addColumn('events', 'text')
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('started_at', 'varchar(32)')
        .addColumn('finished_at', 'varchar(32)')
        .execute();
      await db.schema.createIndex('builds_created').on('builds').column('created_at').execute();
    },
  },
  '0004_auth': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('users')
        .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('password_hash', 'varchar(255)', (c) => c.notNull())
        .addColumn('admin', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('grants')
        .addColumn('subject', 'varchar(80)', (c) => c.notNull())
        .addColumn('pattern', 'varchar(255)', (c) => c.notNull())
        .addColumn('actions', 'varchar(64)', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addPrimaryKeyConstraint('grants_pk', ['subject', 'pattern'])
        .execute();
      await db.schema
        .createTable('api_tokens')
        .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
        .addColumn('user_name', 'varchar(64)', (c) =>
          c.notNull().references('users.name').onDelete('cascade'),
        )
        .addColumn('name', 'varchar(64)', (c) => c.notNull())
        .addColumn('secret_sha256', 'varchar(64)', (c) => c.notNull())
        .addColumn('scopes', 'text')
        .addColumn('expires_at', 'varchar(32)')
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('last_used_at', 'varchar(32)')
        .addColumn('revoked_at', 'varchar(32)')
        .execute();
    },
  },
  '0005_audit': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('audit')
        .addColumn('id', dialect === 'postgres' ? 'serial' : 'integer', (c) =>
          dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('at', 'varchar(32)', (c) => c.notNull())
        .addColumn('actor', 'varchar(80)', (c) => c.notNull())
        .addColumn('address', 'varchar(64)', (c) => c.notNull())
        .addColumn('action', 'varchar(64)', (c) => c.notNull())
        .addColumn('target', 'varchar(512)', (c) => c.notNull())
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('detail', 'text')
        .execute();
      await db.schema.createIndex('audit_at').on('audit').column('at').execute();
    },
  },
  '0006_sessions': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('sessions')
        .addColumn('id_sha256', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('user_name', 'varchar(64)', (c) =>
          c.notNull().references('users.name').onDelete('cascade'),
        )
        .addColumn('csrf', 'varchar(64)', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('expires_at', 'varchar(32)', (c) => c.notNull())
        .execute();
    },
  },
  '0007_repository_touched': {
    // When a push last started in the repository: garbage collection removes an empty repository
    // only if nothing touched it within the grace period (a push in progress keeps it).
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('repositories').addColumn('touched_at', 'varchar(32)').execute();
    },
  },
  '0008_webhooks': {
    // Webhook subscriptions, their queued deliveries (the exact body sent, so a restart resumes
    // and a redelivery repeats it byte for byte) and every attempt with its answer.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('webhooks')
        .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
        .addColumn('url', 'varchar(2048)', (c) => c.notNull())
        .addColumn('events', 'text', (c) => c.notNull())
        .addColumn('repositories', 'varchar(255)')
        .addColumn('secret', 'varchar(255)', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('description', 'varchar(255)')
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('webhook_id', 'varchar(32)', (c) =>
          c.notNull().references('webhooks.id').onDelete('cascade'),
        )
        .addColumn('event_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('event_type', 'varchar(64)', (c) => c.notNull())
        .addColumn('subject', 'varchar(512)', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('state', 'varchar(16)', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', 'varchar(32)')
        .addColumn('lease_until', 'varchar(32)')
        .addColumn('redelivery_of', 'varchar(64)')
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('finished_at', 'varchar(32)')
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
        .addColumn('delivery_id', 'varchar(64)', (c) =>
          c.notNull().references('webhook_deliveries.id').onDelete('cascade'),
        )
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('started_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('duration_ms', 'integer', (c) => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('error', 'text')
        .addColumn('response_excerpt', 'text')
        .addPrimaryKeyConstraint('webhook_attempts_pk', ['delivery_id', 'attempt'])
        .execute();
    },
  },
});
