#!/usr/bin/env bash
# Replicas that share sessions (tests/replicas): two native mcp-edge instances on one Redis (Debian's
# redis-server, started per test on loopback with a password) and on one DynamoDB (moto in server
# mode from tests/.venv-lambda, started once), driven by the official Python SDK client alternating
# between them. Needs the release binary (MCP_EDGE_BIN, default target/release/mcp-edge) and
# redis-server (tests/run-all.sh installs it). Arguments, when given, replace the test selection.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v redis-server >/dev/null || { echo "redis-server is missing (apt-get install redis-server)"; exit 1; }
if [ ! -x tests/.venv/bin/python ]; then
  python3 -m venv tests/.venv
  tests/.venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
fi
if [ ! -x tests/.venv-lambda/bin/python ]; then python3 -m venv tests/.venv-lambda; fi
tests/.venv-lambda/bin/pip install -q --disable-pip-version-check -r tests/requirements-lambda.txt
export MCP_EDGE_BIN=${MCP_EDGE_BIN:-$PWD/target/release/mcp-edge}
started=$(date +%s)
tests/.venv/bin/python -m pytest -q -p no:cacheprovider --timeout 120 "${@:-tests/replicas}"
echo "replicas suite took $(( $(date +%s) - started )) s"
