#!/usr/bin/env bash
# The test command (README quick start, and what .ci/run calls): installs whatever is missing, then runs the
# whole suite against a real local environment that test/global-setup.ts starts and stops.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install.sh"
cd "$root"
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
npx tsc -p tsconfig.json --noEmit
npx eslint .
exec npx vitest run "$@"
