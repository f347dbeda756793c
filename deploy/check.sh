#!/usr/bin/env bash
# Offline validation of the deployment files. Run from anywhere:  bash deploy/check.sh
# Needs no Docker engine and no network (except apt-get when a tool is missing).
# Prints one `ok: ...` line per passed check; exits non-zero if any check fails.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
FAILED=0

# check "description" cmd args...  -> ok:/FAIL: line; output shown only on failure.
check() {
  local desc="$1"; shift
  if "$@" >"$TMP/out" 2>&1; then
    echo "ok: $desc"
  else
    echo "FAIL: $desc"
    sed 's/^/    /' "$TMP/out"
    FAILED=1
  fi
}

# ---- tools ------------------------------------------------------------------
need_apt=()
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
PY=""
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import yaml' >/dev/null 2>&1; then PY="$p"; break; fi
done
[ -n "$PY" ] || need_apt+=(python3-yaml)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"; } >"$TMP/apt.log" 2>&1; then
    cat "$TMP/apt.log"; echo "FAIL: apt-get install ${need_apt[*]}"; exit 1
  fi
  # The prometheus package may start a server on :9090 (the workers' port): stop it.
  if [[ " ${need_apt[*]} " == *" prometheus "* ]]; then
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      systemctl disable --now prometheus >/dev/null 2>&1 || true
    else
      service prometheus stop >/dev/null 2>&1 || true
    fi
  fi
  [ -n "$PY" ] || PY=/usr/bin/python3
fi
if ! command -v kubectl >/dev/null 2>&1; then
  echo "FAIL: kubectl not found (needed for kubectl kustomize)"; exit 1
fi
echo "ok: tools: $(docker-compose version --short 2>/dev/null || echo docker-compose), $(promtool --version 2>&1 | head -1), kubectl $(kubectl version --client 2>/dev/null | head -1 | awk '{print $3}')"

# ---- docker compose -----------------------------------------------------------
# Render with no .env (demo defaults) and with .env.example, so a developer's own
# .env does not influence the result.
: >"$TMP/empty.env"
compose() { docker-compose --env-file "$1" "${@:2}"; }
check "docker-compose config -q (no .env)" compose "$TMP/empty.env" -f docker-compose.yml config -q
check "docker-compose config -q (.env.example)" compose .env.example -f docker-compose.yml config -q
check "docker-compose --profile demo config -q" compose "$TMP/empty.env" --profile demo -f docker-compose.yml config -q
compose "$TMP/empty.env" --profile demo -f docker-compose.yml config >"$TMP/compose-demo.yml" 2>/dev/null
compose .env.example -f docker-compose.yml config >"$TMP/compose-env.yml" 2>/dev/null
check "demo profile has services pdcp-fake and demo-submit" \
  grep -qE '^  (pdcp-fake|demo-submit):' "$TMP/compose-demo.yml"
check "demo defaults point workers at http://pdcp-fake:8085 with --insecure-http=true" \
  bash -c "grep -q 'PDCP_API_SERVER: http://pdcp-fake:8085' '$TMP/compose-demo.yml' && grep -q -- '--insecure-http=true' '$TMP/compose-demo.yml'"
check ".env.example turns --insecure-http off" \
  grep -q -- '--insecure-http=false' "$TMP/compose-env.yml"
check ".env.example points at the real PDCP over https" \
  grep -q 'PDCP_API_SERVER: https://api.projectdiscovery.io' "$TMP/compose-env.yml"
check ".gitignore ignores .env" grep -qx '.env' .gitignore

# ---- prometheus -----------------------------------------------------------------
check "promtool check config deploy/prometheus/prometheus.yml" promtool check config deploy/prometheus/prometheus.yml
check "promtool check rules deploy/prometheus/rules.yml" promtool check rules deploy/prometheus/rules.yml
check "promtool test rules deploy/prometheus/rules_test.yml" promtool test rules deploy/prometheus/rules_test.yml
check "every alert has a firing and a non-firing test" "$PY" - <<'EOF'
import yaml, collections
rules = yaml.safe_load(open("deploy/prometheus/rules.yml"))
tests = yaml.safe_load(open("deploy/prometheus/rules_test.yml"))
alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
seen = collections.defaultdict(set)
for t in tests["tests"]:
    for a in t.get("alert_rule_test", []):
        seen[a["alertname"]].add("firing" if a.get("exp_alerts") else "silent")
missing = {a: {"firing", "silent"} - seen[a] for a in alerts if {"firing", "silent"} - seen[a]}
assert not missing, f"untested: {missing}"
print(sorted(alerts))
EOF

# ---- kubernetes -----------------------------------------------------------------
check "kubectl kustomize deploy/kubernetes/base" sh -c "kubectl kustomize deploy/kubernetes/base >'$TMP/k8s-base.yml'"
check "kubectl kustomize deploy/kubernetes/overlays/example" sh -c "kubectl kustomize deploy/kubernetes/overlays/example >'$TMP/k8s-example.yml'"
check "base references Secret labelreset-secrets but does not create it" sh -c \
  "grep -q 'name: labelreset-secrets' '$TMP/k8s-base.yml' && ! grep -B3 'name: labelreset-secrets' '$TMP/k8s-base.yml' | grep -q 'kind: Secret'"

# ---- cross-checks (images, ports, metric names) -------------------------------
CHECK_TMP="$TMP/" "$PY" deploy/check_manifests.py \
  compose="$TMP/compose-demo.yml" compose="$TMP/compose-env.yml" \
  k8s="$TMP/k8s-base.yml" k8s="$TMP/k8s-example.yml" \
  dockerfile=deploy/Dockerfile \
  prom=deploy/prometheus/prometheus.yml rules=deploy/prometheus/rules.yml \
  dashboard=deploy/grafana/dashboards/labelreset.json exprs_out="$TMP/dashboard-rules.yml" \
  || FAILED=1
check "dashboard PromQL parses (promtool check rules on the panel queries)" promtool check rules "$TMP/dashboard-rules.yml"

# ---- grafana / demo data / schedules ----------------------------------------------
check "dashboard JSON valid (python3 -m json.tool)" "$PY" -m json.tool deploy/grafana/dashboards/labelreset.json
check "grafana provisioning YAML parses" "$PY" -c '
import yaml, sys
ds = yaml.safe_load(open("deploy/grafana/provisioning/datasources/prometheus.yml"))
assert ds["datasources"][0]["uid"] == "prometheus"
db = yaml.safe_load(open("deploy/grafana/provisioning/dashboards/labelreset.yml"))
assert db["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"'
check "schedules YAML parses (example + kubernetes base)" "$PY" -c '
import yaml
for f in ("deploy/schedules.example.yaml", "deploy/kubernetes/base/schedules.yaml"):
    s = yaml.safe_load(open(f))["schedules"]
    for x in s:
        assert x["name"] and x["cron"] and x["source"], x
        assert x.get("mode", "delete") in ("delete", "remove"), x'
check "demo CSV: header asset_id, IDs 1..5000 plus ~1% above 20000" "$PY" -c '
rows = open("deploy/demo/assets.csv").read().split()
assert rows[0] == "asset_id", rows[0]
ids = [int(r) for r in rows[1:]]
assert set(range(1, 5001)) <= set(ids), "missing ids 1..5000"
high = [i for i in ids if i > 20000]
assert 0.005 <= len(high) / len(ids) <= 0.02, len(high)
assert len(ids) == len(set(ids)), "duplicates"'

if [ "$FAILED" -ne 0 ]; then
  echo "deploy/check.sh: FAILED"
  exit 1
fi
echo "deploy/check.sh: all checks passed"
