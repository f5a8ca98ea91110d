/**
 * Go-built tools the local environment needs (the Temporal CLI, versitygw): taken from PATH, else from
 * Drover's cache folder, else built once from the Go module proxy into that cache.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { binCacheDir } from '../../lib/tool-path';
import { execFileP, which } from './processes';

export const GO_TOOLS = {
  temporal: 'github.com/temporalio/cli/cmd/temporal@v1.5.1',
  versitygw: 'github.com/versity/versitygw/cmd/versitygw@v1.7.0',
} as const;

export type GoTool = keyof typeof GO_TOOLS;

export async function resolveGoTool(tool: GoTool, log: (msg: string) => void = () => undefined): Promise<string> {
  const cached = path.join(binCacheDir(), tool);
  if (existsSync(cached)) return cached;
  const onPath = await which(tool);
  if (onPath) return onPath;
  mkdirSync(binCacheDir(), { recursive: true });
  log(`building ${tool} from the Go module proxy (${GO_TOOLS[tool]}); this happens once`);
  await execFileP('go', ['install', GO_TOOLS[tool]], {
    env: { ...process.env, CGO_ENABLED: '0', GOBIN: binCacheDir() },
    maxBuffer: 16 * 1024 * 1024,
  });
  if (!existsSync(cached)) throw new Error(`go install ${GO_TOOLS[tool]} did not produce ${cached}`);
  return cached;
}
