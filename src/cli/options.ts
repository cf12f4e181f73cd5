// Options shared by commands that read the configuration.
import { Option, type Command } from 'commander';
import { loadConfig, type LoadedConfig } from '../config/load.js';

export interface ConfigOptions {
  config?: string;
  dataDir?: string;
}

export function withConfigOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--config <file>', 'configuration file (default /etc/opencloud/config.yaml if present)'),
    )
    .addOption(new Option('--data-dir <dir>', 'where blobs and state live'));
}

export function configFrom(opts: ConfigOptions, flags: Record<string, unknown> = {}): LoadedConfig {
  return loadConfig({ configFile: opts.config, flags: { dataDir: opts.dataDir, ...flags } });
}
