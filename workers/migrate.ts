/** Worker for the drover-migrate task queue: site migrations from old hosts. Holds the key old hosts authorize. */
import { main } from './run-worker';

main('migrate');
