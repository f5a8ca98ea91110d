// The worker's workflowsPath: re-exports only.
export * from './smoke';
export * from './site-backup';
export * from './nightly-backup';
export * from './site-registration';
export * from './prune-restore-points';
export * from './restore-site';
export * from './restore-drill';
export * from './restore-farm';
export * from './provision-farm';
export * from './cluster-bring-up';
export * from './cluster-scale';
export * from './cluster-health';
