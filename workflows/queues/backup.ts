// The drover-backup worker's workflowsPath: only these are registered (named re-exports, see docs/architecture.md).
export { nightlyBackupWorkflow, siteBackupWorkflow, pruneRestorePointsWorkflow } from '../index';
