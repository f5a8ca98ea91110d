/** Worker for the drover-backup task queue: nightly backups, retention, restores. */
import { main } from './run-worker';

main('backup');
