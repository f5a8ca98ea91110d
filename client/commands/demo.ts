/**
 * `drover demo`: the main job on local defaults. Brings the real local environment up, then runs through the
 * real Temporal server what Drover can do so far, and prints a summary with the Web UI address.
 */
import { Command } from 'commander';
import { devUp } from '../../lib/dev-env';
import { action, globals, progress } from '../output';
import { formatReport } from './dev';
import { formatSmoke, runSmoke, smokeLabel } from './smoke';

export function demoCommand(): Command {
  return new Command('demo').description('bring the local environment up and run Drover\'s workflows against it').action(
    action(async (_opts, cmd) => {
      const g = globals(cmd);
      const log = progress(g.json);
      log(`starting the local environment in ${g.stateDir} (first run builds tools and initialises Galera)`);
      const env = await devUp({ stateDir: g.stateDir, portOffset: g.portOffset, log });
      if (!env.healthy) return { ok: false, data: { environment: env }, text: formatReport(env) + '\n\ndemo stopped: the environment is not healthy' };
      log('running the smoke workflow through Temporal with an in-process drover-infra worker');
      const smoke = await runSmoke(g.stateDir, `demo-${smokeLabel()}`, true);
      const text = [
        'Drover demo',
        '',
        formatReport(env),
        '',
        formatSmoke(smoke),
        '',
        `Watch every run in the Temporal Web UI: ${env.webUi}`,
        'The environment keeps running; stop it with `drover dev down`.',
      ].join('\n');
      return { ok: true, data: { environment: env, smoke }, text };
    }),
  );
}
