import { Command, CommanderError } from 'commander';
import { CliError, EXIT } from './errors';
import { vmCommands } from './commands/vms';
import { backupCommands } from './commands/backups';
import { restoreCommands } from './commands/restores';
import { scheduleCommands } from './commands/schedules';
import { jobCommands } from './commands/jobs';
import { frameworkCommands } from './commands/framework';

/** `backflow`: the API from a terminal or a script, through the client generated from its OpenAPI document. */
export function program(): Command {
  const p = new Command('backflow')
    .description('Backflow: backups and restores of KVM VMs')
    .option('--api-url <url>', 'the API (else BACKFLOW_API_URL, the config file, http://127.0.0.1:8080)')
    .option('--api-key <key>', 'an API key (else BACKFLOW_API_KEY, the config file)')
    .option('--config <file>', 'a JSON config file {"apiUrl", "apiKey"} (default ~/.config/backflow/config.json)')
    .option('--json', 'print JSON for scripts')
    .showHelpAfterError()
    .exitOverride();
  vmCommands(p);
  backupCommands(p);
  restoreCommands(p);
  scheduleCommands(p);
  jobCommands(p);
  frameworkCommands(p);
  return p;
}

export async function main(argv = process.argv): Promise<number> {
  try {
    await program().parseAsync(argv);
    return EXIT.ok;
  } catch (e) {
    // Commander has printed its own message (or the help, which exits 0).
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (e instanceof CliError) {
      process.stderr.write(`backflow: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`backflow: ${(e as Error).stack ?? e}\n`);
    return EXIT.unavailable;
  }
}

if (require.main === module) void main().then((code) => process.exit(code));
