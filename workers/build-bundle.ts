/** Prebuilds the workflow bundle for production workers (`npm run build` writes dist/workflow-bundle.js). */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

async function build(): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows') });
  const out = path.resolve(__dirname, '..', 'workflow-bundle.js');
  writeFileSync(out, code);
  console.log(`workflow bundle written to ${out} (${code.length} bytes)`);
}

build().catch((err) => {
  console.error(err);
  process.exit(1);
});
