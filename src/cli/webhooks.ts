// `opencloud webhooks …`: subscriptions and their deliveries, on the data dir's state (as
// `users` works). The running server's worker sends what is queued; it notices new webhooks at
// the next event. A generated secret is printed once. A URL is checked as the API checks it
// (the store refuses internal targets that webhooks.allowedHosts does not open).
import { Command, Option } from 'commander';
import { UsageError } from '../errors.js';
import { EVENT_NAMES } from '../webhooks/events.js';
import { WebhookError, WebhookStore, type Delivery } from '../webhooks/store.js';
import { WebhookTargets } from '../webhooks/targets.js';
import { withCommandState } from './command-state.js';
import { withConfigOptions, type ConfigOptions } from './options.js';

/** Runs `fn` on the data dir's webhooks; a change (`audit`) is recorded in the audit trail. */
function withStore<T>(
  opts: ConfigOptions,
  fn: (store: WebhookStore) => Promise<T>,
  audit?: (result: T) => { action: string; target: string },
): Promise<T> {
  return withCommandState(
    opts,
    (state, config) => fn(new WebhookStore(state, new WebhookTargets(config.webhooks.allowedHosts))),
    { ...(audit ? { audit } : {}), refusal: WebhookError },
  );
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text.replace(/\r?\n$/, '');
}

/** One line per attempt: when, how long, what came back. */
function attemptLines(d: Delivery): string[] {
  return d.attempts.map((a) => {
    const answer = a.statusCode === null ? 'no answer' : `HTTP ${a.statusCode}`;
    return `    #${a.attempt} ${a.startedAt} ${a.durationMs} ms ${answer}${a.error ? ` (${a.error})` : ''}`;
  });
}

export function webhooksCommand(): Command {
  const webhooks = new Command('webhooks').description(
    'webhooks: signed CloudEvents for pushes, deletes, builds and service changes',
  );
  withConfigOptions(webhooks.command('list').description('webhooks (never their secrets)'))
    .addOption(new Option('--json', 'print JSON'))
    .action(async (opts: ConfigOptions & { json?: boolean }) => {
      const list = await withStore(opts, (s) => s.list());
      if (opts.json) return void process.stdout.write(JSON.stringify(list, null, 2) + '\n');
      for (const w of list) {
        const only = w.repositories ? ` repositories=${w.repositories}` : '';
        process.stdout.write(
          `${w.id}  ${w.url}  ${w.events.join(',')}${only}${w.enabled ? '' : '  (disabled)'}\n`,
        );
      }
    });
  withConfigOptions(
    webhooks
      .command('add')
      .argument('<url>', 'where to POST events (http:// or https://)')
      .description('subscribe a URL to events; a generated secret is shown once'),
  )
    .addOption(
      new Option('--events <names>', `comma-separated: ${EVENT_NAMES.join(', ')}`).default(
        EVENT_NAMES.join(','),
      ),
    )
    .addOption(
      new Option('--repositories <pattern>', 'only repository events matching: team/app, team/*, team/**'),
    )
    .addOption(new Option('--secret-stdin', 'read the signing secret from stdin instead of generating one'))
    .addOption(new Option('--description <text>', 'what the webhook is for'))
    .addOption(new Option('--disabled', 'create it disabled'))
    .addOption(new Option('--json', 'print JSON (with the secret)'))
    .action(
      async (
        url: string,
        opts: ConfigOptions & {
          events: string;
          repositories?: string;
          secretStdin?: boolean;
          description?: string;
          disabled?: boolean;
          json?: boolean;
        },
      ) => {
        const secret = opts.secretStdin ? await readStdin() : undefined;
        const events = opts.events
          .split(',')
          .map((e) => e.trim())
          .filter(Boolean);
        const { webhook: w, secret: shown } = await withStore(
          opts,
          (s) =>
            s.create({
              url,
              events,
              repositories: opts.repositories ?? null,
              ...(secret === undefined ? {} : { secret }),
              enabled: !opts.disabled,
              description: opts.description ?? null,
            }),
          // The origin only: a webhook URL's path or query often holds a secret.
          (r) => ({ action: 'webhook-add', target: `${r.webhook.id} ${new URL(url).origin}` }),
        );
        if (opts.json)
          return void process.stdout.write(JSON.stringify({ ...w, secret: shown }, null, 2) + '\n');
        process.stdout.write(`webhook ${w.id}: ${w.url} (${w.events.join(', ')})\n`);
        if (secret === undefined)
          process.stdout.write(
            `secret: ${shown}\n(shown once; the receiver verifies X-OpenCloud-Signature with it)\n`,
          );
      },
    );
  withConfigOptions(
    webhooks.command('delete').argument('<id>').description('delete a webhook and its deliveries'),
  ).action(async (id: string, opts: ConfigOptions) => {
    await withStore(
      opts,
      (s) => s.delete(id),
      () => ({ action: 'webhook-delete', target: id }),
    );
    process.stdout.write(`webhook ${id} deleted\n`);
  });
  withConfigOptions(
    webhooks
      .command('deliveries')
      .argument('<id>', 'the webhook')
      .description("a webhook's deliveries, newest first, with every attempt"),
  )
    .addOption(new Option('--limit <n>', 'how many').default('20'))
    .addOption(new Option('--json', 'print JSON'))
    .action(async (id: string, opts: ConfigOptions & { limit: string; json?: boolean }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500)
        throw new UsageError(`--limit must be an integer from 1 to 500, got ${opts.limit}`);
      const list = await withStore(opts, (s) => s.deliveries(id, limit));
      if (opts.json) return void process.stdout.write(JSON.stringify(list, null, 2) + '\n');
      for (const d of list) {
        const next = d.state === 'pending' && d.nextAttemptAt ? ` next attempt ${d.nextAttemptAt}` : '';
        process.stdout.write(`${d.id}  ${d.createdAt}  ${d.event}  ${d.subject}  ${d.state}${next}\n`);
        for (const line of attemptLines(d)) process.stdout.write(`${line}\n`);
      }
    });
  return webhooks;
}
