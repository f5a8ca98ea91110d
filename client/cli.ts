/** `drover`: the thin CLI. Parse, validate, start/signal/query, print. */
import '../lib/node-notices';
import { Command, CommanderError } from 'commander';
import { backupCommand } from './commands/backup';
import { codecServerCommand } from './commands/codec-server';
import { auditCommand } from './commands/audit';
import { accessCommand } from './commands/access';
import { demoCommand } from './commands/demo';
import { siteCommand } from './commands/site';
import { devCommand } from './commands/dev';
import { downCommand, provisionCommand, scaleCommand, statusCommand, upCommand } from './commands/cluster';
import { planCommand } from './commands/plan';
import { restoreCommand } from './commands/restore';
import { retentionCommand } from './commands/retention';
import { smokeCommand } from './commands/smoke';
import { workerCommand } from './commands/worker';
import { migrateCommand } from './commands/migrate';
import { printError, UsageError } from './output';
import { droverVersion } from '../lib/version';
import { exitWhenFlushed, ignoreClosedPipes } from '../lib/exit';

/**
 * The program; what commander writes to stderr itself (its usage errors, which `run` reports as ours, and the help of
 * a command that needs a subcommand and got none) goes into `errOut` instead.
 */
export function buildProgram(errOut: string[] = []): Command {
  const program = new Command('drover')
    .description('Durable control plane for a WordPress farm on DigitalOcean + Docker Swarm, on Temporal')
    .version(droverVersion())
    .option('--json', 'print one JSON document on stdout')
    .option('--state-dir <dir>', 'local environment state folder (env DROVER_STATE_DIR, default .drover)')
    .option('--port-offset <n>', 'added to every local port (env DROVER_PORT_OFFSET, default 0)')
    .showHelpAfterError(false);
  program.addCommand(demoCommand());
  program.addCommand(devCommand());
  program.addCommand(backupCommand());
  program.addCommand(planCommand());
  program.addCommand(upCommand());
  program.addCommand(downCommand());
  program.addCommand(provisionCommand());
  program.addCommand(scaleCommand());
  program.addCommand(statusCommand());
  program.addCommand(restoreCommand());
  program.addCommand(retentionCommand());
  program.addCommand(siteCommand());
  program.addCommand(smokeCommand());
  program.addCommand(workerCommand());
  program.addCommand(codecServerCommand());
  program.addCommand(auditCommand());
  program.addCommand(accessCommand());
  program.addCommand(migrateCommand());
  // Commander's own usage errors (unknown option, missing argument) exit 2 like ours, naming the field.
  const configure = (c: Command) => {
    c.exitOverride();
    c.configureOutput({ writeErr: (text) => void errOut.push(text) });
    c.commands.forEach(configure);
  };
  configure(program);
  return program;
}

export async function run(argv: string[]): Promise<number> {
  const errOut: string[] = [];
  const program = buildProgram(errOut);
  try {
    await program.parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof CommanderError) {
      // A command of subcommands given none (`drover restore`): commander shows its help as an error (exit code 1).
      if (err.code === 'commander.help' && err.exitCode !== 0) {
        // `drover help nosuch` (or `drover restore help nosuch`) lands here too: the name is the mistake.
        const asked = argv[argv.lastIndexOf('help') + 1];
        if (argv.includes('help') && asked && !asked.startsWith('-')) {
          printError(new UsageError(asked, `unknown command '${asked}'`), argv.includes('--json'));
          return 2;
        }
        const help = errOut.join('');
        const usage = /^Usage: (\S+(?: [a-z][\w-]*)*)/m.exec(help)?.[1] ?? 'drover';
        if (!argv.includes('--json')) process.stderr.write(help);
        printError(new UsageError('command', `${usage} needs a subcommand: see \`${usage} --help\``), argv.includes('--json'));
        return 2;
      }
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      const field = /option '([^']+)'/.exec(err.message)?.[1] ?? /argument '([^']+)'/.exec(err.message)?.[1] ?? /command '([^']+)'/.exec(err.message)?.[1] ?? 'command';
      printError(new UsageError(field, err.message.replace(/^error: /, '')), argv.includes('--json'));
      return 2;
    }
    printError(err, argv.includes('--json'));
    return 1;
  }
}

if (require.main === module) {
  // Exit only once stdout has drained: a large --json document through a pipe is written asynchronously.
  ignoreClosedPipes();
  void run(process.argv).then((code) => exitWhenFlushed(code));
}
