// `opencloud doctor`: one line per check with a concrete fix for each failure; exit code 69
// (unavailable) when a required check fails. The access section judges the running server's
// own identity (uid and groups as the process holds them) against the daemon sockets.
import { Command, Option } from 'commander';
import type { AccessReport } from '../doctor/access.js';
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

export function formatAccess(
  report: AccessReport,
  describe: (r: AccessReport) => Array<[string, string]>,
): string[] {
  return [
    '',
    'access: who the server runs as, and whether it may use the daemon sockets',
    ...describe(report).map(([label, text]) => `${' '.repeat(4)}  ${label.padEnd(10)}  ${text}`),
    ...report.findings.map(formatCheck),
  ];
}

export function doctorCommand(): Command {
  return withConfigOptions(
    new Command('doctor').description(
      'check Node.js, the data dir, containerd and BuildKit, and the server’s access to their sockets',
    ),
  )
    .addOption(new Option('--json', 'print the results as JSON'))
    .action(async (opts: DoctorOptions) => {
      const { config } = configFrom(opts);
      const [{ runDoctor }, { gatherAccess }, { assessAccess, describeAccess }] = await Promise.all([
        import('../doctor/checks.js'),
        import('../doctor/access-host.js'),
        import('../doctor/access.js'),
      ]);
      const [checks, facts] = await Promise.all([runDoctor(config), gatherAccess(config)]);
      const access = assessAccess(facts);
      const all = [...checks, ...access.findings];
      const healthy = all.every((c) => c.status !== 'fail');
      if (opts.json) {
        const { findings: _findings, ...accessFacts } = access;
        process.stdout.write(JSON.stringify({ healthy, checks: all, access: accessFacts }, null, 2) + '\n');
      } else {
        for (const c of checks) process.stdout.write(formatCheck(c) + '\n');
        for (const line of formatAccess(access, describeAccess)) process.stdout.write(line + '\n');
      }
      process.exitCode = healthy ? EXIT.ok : EXIT.unavailable;
    });
}
