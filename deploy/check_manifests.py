#!/usr/bin/env python3
"""Static cross-checks of the rendered deployment files (called by deploy/check.sh).

Usage: check_manifests.py KIND=FILE ...
  compose=FILE   output of `docker-compose config` (may repeat)
  k8s=FILE       output of `kubectl kustomize` (may repeat)
  prom=FILE      deploy/prometheus/prometheus.yml
  rules=FILE     deploy/prometheus/rules.yml
  dashboard=FILE deploy/grafana/dashboards/labelreset.json
  dockerfile=FILE
  exprs_out=FILE write the dashboard queries there as a promtool rules file

Prints one `ok: ...` line per check, `FAIL: ...` lines for problems; exit 1 on any.
"""
import json
import os
import re
import sys

import yaml

# ---- contract ---------------------------------------------------------------
OUR_IMAGE = "ghcr.io/labelreset/labelreset"
ALLOWED_IMAGES = [OUR_IMAGE, "redis", "prom/prometheus", "grafana/grafana"]
BASE_IMAGES = ["golang", "gcr.io/distroless/static-debian12"]

COUNTERS = """assets_processed_total api_requests_total retries_total throttled_total
batches_processed_total ratelimit_throttled_total ratelimit_pauses_total
ratelimit_errors_total http_requests_total campaigns_created_total
schedule_fires_total""".split()
GAUGES = """inflight_requests campaign_assets campaign_total_assets campaign_state
queue_size queue_latency_seconds redis_up ratelimit_effective_rate
ratelimit_configured_rate ratelimit_paused ratelimit_near_limit build_info
schedule_last_fire_timestamp_seconds""".split()
HISTOGRAMS = """api_request_duration_seconds ratelimit_wait_seconds
http_request_duration_seconds""".split()
KNOWN_METRICS = {"labelreset_" + m for m in COUNTERS + GAUGES}
for h in HISTOGRAMS:
    KNOWN_METRICS |= {f"labelreset_{h}{s}" for s in ("_bucket", "_sum", "_count")}
KNOWN_METRICS.add("up")
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "by", "without", "on", "ignoring", "and", "or",
    "unless", "rate", "increase", "irate", "histogram_quantile", "absent", "vector",
    "group_left", "group_right", "bool", "offset", "topk", "bottomk", "le", "clamp_min",
    "clamp_max", "time", "changes", "delta", "deriv", "abs", "humanizePercentage",
}

problems = []


def fail(msg):
    problems.append(msg)
    print(f"FAIL: {msg}".replace(os.environ.get("CHECK_TMP", "\0"), ""))


def ok(msg):
    print(f"ok: {msg}".replace(os.environ.get("CHECK_TMP", "\0"), ""))


def image_allowed(image):
    name = image.split("@")[0]
    # strip tag (a ':' after the last '/')
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: name.rfind(":")]
    name = re.sub(r"^docker\.io/(library/)?", "", name)
    return name in ALLOWED_IMAGES, name


def port_of(addr):
    m = re.search(r":(\d+)$", addr or "")
    return int(m.group(1)) if m else None


def flag(args, name):
    """Value of --name=V or --name V in an argument list."""
    args = [str(a) for a in args or []]
    for i, a in enumerate(args):
        if a == f"--{name}" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
    return None


def duration_seconds(v):
    m = re.fullmatch(r"(\d+)(ms|s|m)", v or "")
    if not m:
        return None
    n, u = int(m.group(1)), m.group(2)
    return {"ms": n / 1000, "s": n, "m": n * 60}[u]


# ---- compose ----------------------------------------------------------------
def mem_bytes(v):
    """Bytes of a memory size: 512Mi (k8s), 512m (compose), 400MiB (GOMEMLIMIT), or a number."""
    if v is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*([KMGkmg]?)(i?)[Bb]?\s*", str(v))
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]


def gomemlimit_problem(what, limit, gomem):
    """GOMEMLIMIT must be set, and between half and 90% of the memory limit."""
    lb, gb = mem_bytes(limit), mem_bytes(gomem)
    if lb is None:
        return f"{what}: no memory limit"
    if gb is None:
        return f"{what}: GOMEMLIMIT not set (memory limit {limit})"
    if not lb // 2 <= gb <= lb * 9 // 10:
        return f"{what}: GOMEMLIMIT {gomem} is not 50-90% of the memory limit {limit}"
    return None


def check_compose(path, prom):
    doc = yaml.safe_load(open(path))
    services = doc.get("services", {})
    bad = []
    for name, svc in services.items():
        img = svc.get("image")
        if not img:
            bad.append(f"{name}: no image")
            continue
        allowed, _ = image_allowed(img)
        if not allowed:
            bad.append(f"{name}: {img}")
    if bad:
        fail(f"{path}: images not in allow-list {ALLOWED_IMAGES}: {bad}")
    else:
        ok(f"compose images allowed ({path}: {len(services)} services)")

    # Every labelreset service's listen port must match what Prometheus scrapes.
    targets = {}
    for job in prom.get("scrape_configs", []):
        for sc in job.get("static_configs", []):
            for t in sc.get("targets", []):
                host, _, port = t.rpartition(":")
                targets[host] = (job["job_name"], int(port))
        for sd in job.get("dns_sd_configs", []):
            for n in sd.get("names", []):
                targets[n] = (job["job_name"], int(sd["port"]))
    expect_jobs = {"worker": "labelreset-worker", "api": "labelreset-api",
                   "scheduler": "labelreset-scheduler"}
    errs = []
    for name, job in expect_jobs.items():
        svc = services.get(name)
        if svc is None:
            errs.append(f"service {name} missing")
            continue
        cmd = svc.get("command") or []
        addr = flag(cmd, "addr") if name == "api" else flag(cmd, "metrics-addr")
        port = port_of(addr)
        if name not in targets:
            errs.append(f"prometheus does not scrape {name}")
        elif targets[name] != (job, port):
            errs.append(f"{name} listens on {port} but prometheus scrapes {targets[name]}")
        if "/usr/local/bin/labelreset" != (svc.get("entrypoint") or ["/usr/local/bin/labelreset"])[0]:
            errs.append(f"{name} overrides the entrypoint")
    for name in expect_jobs:
        svc = services.get(name) or {}
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) for e in env if "=" in e)
        limit = svc.get("mem_limit") or (((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}).get("memory")
        problem = gomemlimit_problem(name, limit, env.get("GOMEMLIMIT"))
        if problem:
            errs.append(problem)
    worker = services.get("worker", {})
    st = duration_seconds(flag(worker.get("command"), "shutdown-timeout"))
    grace = duration_seconds(str(worker.get("stop_grace_period", "10s")))
    if st is None or grace is None or grace <= st:
        errs.append(f"worker stop_grace_period ({grace}s) must exceed --shutdown-timeout ({st}s)")
    if errs:
        fail(f"{path}: " + "; ".join(errs))
    else:
        ok(f"compose ports/flags match prometheus scrape targets and grace period ({path})")


# ---- kubernetes -------------------------------------------------------------
def pod_specs(docs):
    for d in docs:
        if d.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            t = d["spec"]["template"]
            yield d, t["metadata"].get("labels", {}), t["spec"]
        elif d.get("kind") == "CronJob":
            t = d["spec"]["jobTemplate"]["spec"]["template"]
            yield d, t["metadata"].get("labels", {}), t["spec"]


def check_k8s(path):
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    where = path
    errs = []
    images = []
    pods = list(pod_specs(docs))
    for d, labels, spec in pods:
        wl = f"{d['kind']}/{d['metadata']['name']}"
        grace = spec.get("terminationGracePeriodSeconds", 30)
        psc = spec.get("securityContext", {})
        if not psc.get("runAsNonRoot"):
            errs.append(f"{wl}: pod securityContext.runAsNonRoot not true")
        for c in spec.get("initContainers", []) + spec.get("containers", []):
            images.append((wl, c["image"]))
            names = {p.get("name") for p in c.get("ports", []) if p.get("name")}
            nums = {p["containerPort"] for p in c.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                pr = c.get(probe)
                if not pr:
                    continue
                for kind in ("httpGet", "tcpSocket", "grpc"):
                    if kind in pr:
                        port = pr[kind]["port"]
                        if port not in names and port not in nums:
                            errs.append(f"{wl}/{c['name']}: {probe} port {port!r} not declared")
            csc = c.get("securityContext", {})
            if not csc.get("readOnlyRootFilesystem") or csc.get("allowPrivilegeEscalation", True) \
                    or "ALL" not in csc.get("capabilities", {}).get("drop", []):
                errs.append(f"{wl}/{c['name']}: securityContext must set readOnlyRootFilesystem, "
                            "allowPrivilegeEscalation=false, drop ALL")
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            limit = ((c.get("resources") or {}).get("limits") or {}).get("memory")
            problem = gomemlimit_problem(f"{wl}/{c['name']}", limit, env.get("GOMEMLIMIT"))
            if problem:
                errs.append(problem)
            args = c.get("args", [])
            ma = flag(args, "metrics-addr") or flag(args, "addr")
            if ma is not None and port_of(ma) not in nums:
                errs.append(f"{wl}/{c['name']}: listens on {ma} but no containerPort {port_of(ma)}")
            ann = (d["spec"]["template"]["metadata"].get("annotations") or {})
            if "prometheus.io/port" in ann and int(ann["prometheus.io/port"]) not in nums:
                errs.append(f"{wl}/{c['name']}: prometheus.io/port {ann['prometheus.io/port']} not declared")
            st = duration_seconds(flag(args, "shutdown-timeout"))
            if st is not None and not grace > st:
                errs.append(f"{wl}: terminationGracePeriodSeconds {grace} must exceed --shutdown-timeout {st}s")

    def selected(selector):
        return [(d, spec) for d, labels, spec in pods
                if selector and all(labels.get(k) == v for k, v in selector.items())]

    def declared(matches):
        names, nums = set(), set()
        for _, spec in matches:
            for c in spec.get("containers", []):
                for p in c.get("ports", []):
                    nums.add(p["containerPort"])
                    if p.get("name"):
                        names.add(p["name"])
        return names, nums

    for d in docs:
        kind, name = d.get("kind"), d["metadata"]["name"]
        if kind == "Service":
            m = selected(d["spec"].get("selector"))
            if not m:
                errs.append(f"Service/{name}: selector matches no pod template")
                continue
            names, nums = declared(m)
            for p in d["spec"].get("ports", []):
                tp = p.get("targetPort", p["port"])
                if tp not in names and tp not in nums:
                    errs.append(f"Service/{name}: targetPort {tp!r} not declared by selected pods")
        elif kind == "NetworkPolicy":
            m = selected(d["spec"]["podSelector"].get("matchLabels"))
            if not m:
                errs.append(f"NetworkPolicy/{name}: podSelector matches no pod template")
                continue
            names, nums = declared(m)
            for rule in d["spec"].get("ingress", []):
                for p in rule.get("ports", []):
                    if p.get("port") not in names and p.get("port") not in nums:
                        errs.append(f"NetworkPolicy/{name}: ingress port {p.get('port')!r} not declared")
        elif kind == "PodDisruptionBudget":
            if not selected(d["spec"]["selector"].get("matchLabels")):
                errs.append(f"PodDisruptionBudget/{name}: selector matches no pod template")

    bad = [(w, i) for w, i in images if not image_allowed(i)[0]]
    if bad:
        fail(f"{where}: images not in allow-list {ALLOWED_IMAGES}: {bad}")
    else:
        ok(f"k8s images allowed ({where}: {sorted({i for _, i in images})})")
    if errs:
        for e in errs:
            fail(f"{where}: {e}")
    else:
        ok(f"k8s ports/probes/Service targetPorts/NetworkPolicy ports declared, securityContext, grace period ({where})")


# ---- dockerfile -------------------------------------------------------------
def check_dockerfile(path):
    args = {}
    bad = []
    for line in open(path):
        line = line.strip()
        m = re.match(r"ARG\s+(\w+)=(\S+)", line)
        if m:
            args[m.group(1)] = m.group(2)
        m = re.match(r"FROM\s+(?:--platform=\S+\s+)?(\S+)", line, re.I)
        if m:
            img = re.sub(r"\$\{?(\w+)\}?", lambda x: args.get(x.group(1), ""), m.group(1))
            base = img.split("@")[0].rsplit(":", 1)[0] if ":" in img.rsplit("/", 1)[-1] else img
            if base not in BASE_IMAGES:
                bad.append(img)
    text = open(path).read()
    for needle in ("CGO_ENABLED=0", "-trimpath", "client.Version=${VERSION}", "USER 65532",
                   'ENTRYPOINT ["/usr/local/bin/labelreset"]', "./cmd/labelreset", "./cmd/pdcp-fake"):
        if needle not in text:
            bad.append(f"missing {needle!r}")
    if bad:
        fail(f"{path}: {bad}")
    else:
        ok(f"Dockerfile base images {BASE_IMAGES} and build contract ({path})")


# ---- metrics ------------------------------------------------------------------
def metric_names(expr, recorded):
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # drop label values
    expr = re.sub(r"\{\{.*?\}\}", "", expr)                   # drop templates
    expr = re.sub(r"\[[^\]]*\]", "", expr)                    # drop ranges
    names = set()
    for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\(|\{|=|!=|=~|!~)?", expr):
        word, nxt = m.group(1), m.group(2)
        if nxt in ("=", "!=", "=~", "!~") or nxt == "(" and word in PROMQL_WORDS:
            continue
        if word in PROMQL_WORDS or word in recorded:
            continue
        names.add(word)
    # label names inside by(...)/without(...)/on(...)
    return names


def label_lists(expr):
    return {l.strip() for grp in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr)
            for l in grp.split(",") if l.strip()}


def check_metrics(rules_path, dash_path, exprs_out):
    rules = yaml.safe_load(open(rules_path))
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    unknown = {}
    for g in rules["groups"]:
        for r in g["rules"]:
            e = r["expr"]
            for n in metric_names(e, recorded) - label_lists(e) - KNOWN_METRICS:
                unknown.setdefault(n, []).append(r.get("alert") or r.get("record"))
    dash = json.load(open(dash_path))
    exprs = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            e = t["expr"]
            exprs.append((p["title"], e))
            for n in metric_names(e.replace("$__rate_interval", "5m"), set()) - label_lists(e) - KNOWN_METRICS:
                unknown.setdefault(n, []).append(p["title"])
            if t.get("datasource", {}).get("uid") != "prometheus":
                fail(f"{dash_path}: panel {p['title']!r} does not use datasource uid prometheus")
    alerts = [r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r]
    for a in alerts:
        r = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == a)
        if not {"summary", "description"} <= set(r.get("annotations", {})) or "severity" not in r.get("labels", {}):
            fail(f"{rules_path}: {a} needs summary+description annotations and a severity label")
    if unknown:
        fail(f"metric names outside the contract: {unknown}")
    else:
        ok(f"rules and dashboard use only contract metric names ({len(exprs)} panel queries, {len(alerts)} alerts)")
    if exprs_out:
        # promtool check rules parses these -> PromQL syntax check of the dashboard.
        doc = {"groups": [{"name": "dashboard-queries", "rules": [
            {"record": f"dashboard:query_{i}", "expr": e.replace("$__rate_interval", "5m")}
            for i, (_, e) in enumerate(exprs)]}]}
        yaml.safe_dump(doc, open(exprs_out, "w"))
    ids = [p["id"] for p in dash["panels"]]
    if len(ids) != len(set(ids)):
        fail(f"{dash_path}: duplicate panel ids")


def main():
    files = {}
    for a in sys.argv[1:]:
        k, _, v = a.partition("=")
        files.setdefault(k, []).append(v)
    prom = yaml.safe_load(open(files["prom"][0])) if "prom" in files else {}
    for f in files.get("compose", []):
        check_compose(f, prom)
    for f in files.get("k8s", []):
        check_k8s(f)
    for f in files.get("dockerfile", []):
        check_dockerfile(f)
    if "rules" in files and "dashboard" in files:
        check_metrics(files["rules"][0], files["dashboard"][0], (files.get("exprs_out") or [None])[0])
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
