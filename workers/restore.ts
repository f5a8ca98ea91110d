/** Worker for the drover-restore task queue: site restores, drills, farm recovery. Holds the backup identity. */
import { main } from './run-worker';

main('restore');
