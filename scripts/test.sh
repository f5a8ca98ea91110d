#!/usr/bin/env bash
# The test command (README quick start, and what .ci/run calls): installs whatever is missing, type-checks,
# lints, then runs the whole suite against a real local environment that test/global-setup.ts starts and stops.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install.sh"
cd "$root"
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
npx tsc -p tsconfig.json --noEmit
npx eslint .
mkdir -p .drover-test
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=.drover-test/vitest-report.json "$@" || status=$?
# One plain closing line, whatever the reporter printed above it.
node -e '
  const r = JSON.parse(require("fs").readFileSync(".drover-test/vitest-report.json", "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
' || true
exit "$status"
