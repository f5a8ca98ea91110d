/** Worker for the drover-backup task queue: nightly backups and retention (no private key: it cannot decrypt). */
import { main } from './run-worker';

main('backup');
