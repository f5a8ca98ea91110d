// The drover-migrate worker's workflowsPath: only these are registered (named re-exports, see docs/architecture.md).
export { migrateSiteWorkflow, migrateCheckWorkflow, migrationWaveWorkflow } from '../index';
