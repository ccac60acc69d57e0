#!/usr/bin/env bash
# Copy the example project into a fresh temporary git repo and run the shipped `feature` workflow on it
# with the embedded team (dispatcher on SmolLM2-135M, surveyor/tester/builder on Qwen2.5-Coder-0.5B, spec
# writer and critic on Qwen2.5-Coder-1.5B). Nothing waits for input; the temporary repo is kept for inspection.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd -P)"
root="$(cd "$here/.." && pwd -P)"
repo="$(mktemp -d "${TMPDIR:-/tmp}/orchestrator-demo.XXXXXX")"
cp -R "$here/calc/." "$repo/"
git -C "$repo" init --quiet --initial-branch=main
git -C "$repo" -c user.name=demo -c user.email=demo@example.invalid add -A
git -C "$repo" -c user.name=demo -c user.email=demo@example.invalid commit --quiet -m "Example project"
echo "Example repo: $repo"
# The example's tests run with this project's venv (python and pytest on PATH), without third-party plugins.
# Extra arguments go to `orchestrator run` (e.g. `--model builder=...`; the tests pass scripted models).
export PATH="$root/.venv/bin:$PATH" PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
"$root/.venv/bin/orchestrator" run feature --repo "$repo" --task "${TASK:-Add a subtract(a, b) function to calc.py that returns a minus b}" \
    --approve auto "$@" </dev/null
rc=$?
echo "orchestrator exit code: $rc (repo kept at $repo; see its branches: git -C $repo branch -a)"
# Exit 3 is an honest outcome: a gate stopped the run because the work was not shown done. Pass it on.
if [ "$rc" -eq 3 ]; then echo "The task was NOT done: a gate stopped the run (its name and reason are above)."; fi
exit "$rc"
