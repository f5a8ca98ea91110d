/** Worker for the drover-infra task queue: bring-up, sites, migrations, smoke checks. */
import { main } from './run-worker';

main('infra');
