// `opencloud doctor`: one line per check with a concrete fix for each failure; exit code 69
// (unavailable) when a required check fails.
import { Command, Option } from 'commander';
import type { CheckResult } from '../doctor/checks.js';
import { EXIT } from '../errors.js';
import { configFrom, withConfigOptions, type ConfigOptions } from './options.js';

interface DoctorOptions extends ConfigOptions {
  json?: boolean;
}

const MARK = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' } as const;

export function formatCheck(c: CheckResult): string {
  const line = `${MARK[c.status]}  ${c.name.padEnd(10)}  ${c.message}`;
  return c.fix ? `${line} — fix: ${c.fix}` : line;
}

export function doctorCommand(): Command {
  return withConfigOptions(
    new Command('doctor').description('check Node.js, the data dir, containerd and BuildKit'),
  )
    .addOption(new Option('--json', 'print the results as JSON'))
    .action(async (opts: DoctorOptions) => {
      const { config } = configFrom(opts);
      const { runDoctor } = await import('../doctor/checks.js');
      const checks = await runDoctor(config);
      const healthy = checks.every((c) => c.status !== 'fail');
      if (opts.json) process.stdout.write(JSON.stringify({ healthy, checks }, null, 2) + '\n');
      else for (const c of checks) process.stdout.write(formatCheck(c) + '\n');
      process.exitCode = healthy ? EXIT.ok : EXIT.unavailable;
    });
}
