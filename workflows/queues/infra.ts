// The drover-infra worker's workflowsPath: only these are registered (named re-exports, see docs/architecture.md).
export { smokeWorkflow, registerSiteWorkflow, provisionFarmWorkflow, clusterBringUpWorkflow, clusterTeardownWorkflow, clusterScaleWorkflow, clusterHealthWorkflow, siteWorkflow, createSiteWorkflow, deleteSiteWorkflow, siteNodesWorkflow, accessGrantWorkflow } from '../index';
