// The worker's workflowsPath: re-exports only.
export * from './smoke';
export * from './site-backup';
export * from './nightly-backup';
