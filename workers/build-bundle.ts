/** Prebuilds the workflow bundle for production workers (`npm run build` writes dist/workflow-bundle.js). */
import { statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { workflowsEntry } from './workflows-entry';

/** Bundles the workflows (the same code production workers load) and writes it to `out`. */
export async function buildWorkflowBundle(out = path.resolve(__dirname, '..', 'workflow-bundle.js')): Promise<string> {
  const { code } = await bundleWorkflowCode({ workflowsPath: workflowsEntry(), logger: new DefaultLogger('WARN') });
  writeFileSync(out, code);
  return out;
}

async function build(): Promise<void> {
  const out = await buildWorkflowBundle();
  console.log(`workflow bundle written to ${out} (${statSync(out).size} bytes)`);
}

if (require.main === module) {
  build().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
