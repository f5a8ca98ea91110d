import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const TEST_STATE_DIR = path.join(ROOT, '.drover-test');
// Another offset (DROVER_TEST_PORT_OFFSET, a multiple of 100) lets two checkouts run their suites side by side.
export const TEST_PORT_OFFSET = Number(process.env.DROVER_TEST_PORT_OFFSET ?? 100);
export const TEST_ENV = { stateDir: TEST_STATE_DIR, portOffset: TEST_PORT_OFFSET };
export const TEST_BUNDLE = path.join(TEST_STATE_DIR, 'workflow-bundle.js');
