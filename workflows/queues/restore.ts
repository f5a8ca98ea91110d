// The drover-restore worker's workflowsPath: only these are registered (named re-exports, see docs/architecture.md).
// siteBackupWorkflow: the safety point a restore over a live site takes first runs as its child on this queue.
// siteWorkflow too: a restore of a site that has no entity yet starts it on the restore queue (so a restore run
// with only a restore worker is not left waiting); its create and delete children always run on drover-infra.
export { restoreSiteWorkflow, restoreDrillWorkflow, restoreFarmWorkflow, siteBackupWorkflow, siteWorkflow } from '../index';
