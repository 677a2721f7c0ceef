"""The Grafana dashboard and the alerting rules against real data: the real
backup-gate binary (one ready posix backend with a write probe, one failing on a
missing path) scraped every second by a real Prometheus that also evaluates the
rules file. Every panel query and template variable query of the dashboard is
run through Prometheus's HTTP API with the variables substituted, and must
return series; every rule must evaluate without error."""

import json
import re
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import pytest
import yaml

from obs_harness import BINARY, DASHBOARDS, RULES_FILE, free_port, missing, stop, tool

NAMESPACE = "backups"
POD = "cinder-backup-0"
JOB = "backup-gate"  # what alerts.selector expects by default
# What Grafana would put for the interval variables; a 1m range holds ~60
# scrapes here, enough for rate().
INTERVALS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m"}
SETTLE_SECONDS = 45

REQUIRED_METRICS = [
    "backup_gate_ready", "backup_gate_backend_up", "backup_gate_backend_state",
    "backup_gate_backend_checks_total", "backup_gate_backend_check_duration_seconds_bucket",
    "backup_gate_backend_check_timeout_seconds", "backup_gate_backend_transitions_total",
    "backup_gate_backend_free_bytes", "process_resident_memory_bytes",
    "backup_gate_backend_attempt_hung", "backup_gate_backend_consecutive_failures",
    "backup_gate_backend_last_success_timestamp_seconds",
]


def load_dashboard(path):
    return json.loads(path.read_text())


def panels(dashboard):
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def targets(dashboard):
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield panel, target


def query_variables(dashboard):
    return [v for v in dashboard["templating"]["list"] if v["type"] == "query"]


def variable_query(variable):
    query = variable["query"]
    return query["query"] if isinstance(query, dict) else query


# --- structure, no Prometheus needed -------------------------------------

@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.name for p in DASHBOARDS])
def test_dashboard_is_readable_and_templated(path):
    text = path.read_text()
    dashboard = json.loads(text)
    assert text.startswith("{\n  \""), "dashboards are indented JSON, not minified"
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["uid"] and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("namespace", "pod", "backend"):
        assert variables[name]["type"] == "query"
        assert variable_query(variables[name]).startswith("label_values(")
        assert variables[name]["datasource"]["uid"] == "${datasource}"
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel.get("title") and panel.get("description"), panel.get("title")
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.name for p in DASHBOARDS])
def test_dashboard_panels_cover_the_metrics_without_hiding_emptiness(path):
    dashboard = load_dashboard(path)
    exprs = [t["expr"] for _, t in targets(dashboard)]
    everything = "\n".join(exprs)
    for metric in REQUIRED_METRICS:
        assert metric in everything, f"no panel shows {metric}"
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (le, " in everything
    assert 'result!="success"' in everything
    assert "by (backend, from, to)" in everything
    assert "time() - (backup_gate_backend_last_success_timestamp_seconds" in everything
    for expr in exprs:
        assert not re.search(r"\bvector\s*\(|\babsent(_over_time)?\s*\(|\bor\s+on\s*\(\s*\)", expr), expr
        for selector in re.findall(r"\{([^}]*)\}", expr):
            if "le" == selector.strip():
                continue
            assert 'namespace="$namespace"' in selector and 'pod=~"$pod"' in selector, expr


# --- against the running sidecar and Prometheus ---------------------------

class Stack:
    def __init__(self, tmp):
        self.tmp = tmp
        self.gate = None
        self.prometheus = None
        self.gate_lines = []

    def start_gate(self):
        good = self.tmp / "good"
        good.mkdir()
        config = self.tmp / "gate.yaml"
        config.write_text(yaml.safe_dump({
            "server": {"address": "127.0.0.1:0", "drain_delay": "0s"},
            "check": {"interval": "1s", "timeout": "2s", "retry": {"initial": "200ms", "max": "1s"}},
            "backends": [
                {"name": "good", "driver": "posix", "path": str(good), "write_probe": True},
                {"name": "broken", "driver": "posix", "path": str(self.tmp / "missing")},
            ],
        }))
        self.gate = subprocess.Popen([str(BINARY), "--config", str(config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        port = []
        listening = threading.Event()

        def read():
            for raw in self.gate.stderr:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.gate_lines.append(line)
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("msg") == "listening":
                    port.append(entry["port"])
                    listening.set()
            listening.set()

        threading.Thread(target=read, daemon=True).start()
        assert listening.wait(15) and port, "backup-gate did not start:\n" + "\n".join(self.gate_lines)
        return port[0]

    def start_prometheus(self, gate_port):
        self.port = free_port()
        config = self.tmp / "prometheus.yml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES_FILE)],
            "scrape_configs": [{
                "job_name": JOB,
                "static_configs": [{"targets": [f"127.0.0.1:{gate_port}"],
                                    "labels": {"namespace": NAMESPACE, "pod": POD}}],
            }],
        }))
        self.prometheus_log = open(self.tmp / "prometheus.log", "wb")
        self.prometheus = subprocess.Popen(
            [tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={self.tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.prometheus_log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.prometheus.poll() is None, "prometheus exited:\n" + self.prometheus_logs()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("prometheus did not become ready:\n" + self.prometheus_logs())

    def prometheus_logs(self):
        self.prometheus_log.flush()
        return (self.tmp / "prometheus.log").read_text(errors="replace")[-4000:]

    def api(self, path, **params):
        query = urllib.parse.urlencode(params, doseq=True)
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as err:
            body = json.loads(err.read())
        if body.get("status") != "success":
            raise ValueError(f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def stop(self):
        codes = {}
        if self.prometheus is not None:
            codes["prometheus"] = stop(self.prometheus)
            self.prometheus_log.close()
        if self.gate is not None:
            codes["backup-gate"] = stop(self.gate)
        return codes


def grafana_value(values, multi):
    """A variable's values as Grafana puts them into a Prometheus query."""
    escaped = [re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", v) for v in values]
    if multi and len(escaped) > 1:
        return "(" + "|".join(escaped) + ")"
    return escaped[0]


def substitute(expr, variables):
    def one(match):
        name = match.group(1) or match.group(2)
        assert name in variables, f"unknown variable ${name} in {expr}"
        return variables[name]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)


def evaluate(stack, dashboard):
    """One pass over the dashboard: (variables, problems by kind, results)."""
    problems = {"variables": [], "panels": []}
    variables = dict(INTERVALS)
    for variable in query_variables(dashboard):
        query = substitute(variable_query(variable), variables)
        match = re.fullmatch(r"label_values\((?:(.+),\s*)?(\w+)\)", query.strip())
        assert match, f"${variable['name']}: not a label_values() query: {query}"
        selector, label = match.groups()
        try:
            values = stack.api(f"label/{label}/values", **({"match[]": selector} if selector else {}))
        except ValueError as err:
            problems["variables"].append(f"${variable['name']}: {query}: {err}")
            break
        if not values:
            problems["variables"].append(f"${variable['name']}: {query}: no values")
            break  # the variables after it depend on it
        variables[variable["name"]] = grafana_value(values, variable.get("multi", False))
    if problems["variables"]:
        return variables, problems
    for panel, target in targets(dashboard):
        expr = substitute(target["expr"], variables)
        try:
            result = stack.api("query", query=expr)["result"]
        except ValueError as err:
            problems["panels"].append(f"{panel['title']} [{target['refId']}]: {err}\n  {expr}")
            continue
        if not result:
            problems["panels"].append(f"{panel['title']} [{target['refId']}]: no series\n  {expr}")
    return variables, problems


def rule_problems(stack, expected_rules):
    groups = stack.api("rules", type="alert")["groups"]
    rules = {r["name"]: r for g in groups for r in g["rules"]}
    problems = []
    if set(rules) != set(expected_rules):
        problems.append(f"loaded rules {sorted(rules)} are not {sorted(expected_rules)}")
    for name, rule in rules.items():
        if rule["lastEvaluation"].startswith("0001-"):
            problems.append(f"{name}: not evaluated yet")
        elif rule["health"] != "ok" or rule.get("lastError"):
            problems.append(f"{name}: {rule['health']}: {rule.get('lastError')}")
    return rules, problems


def active(rules, name):
    return [a["labels"] for a in rules.get(name, {}).get("alerts", []) if a["state"] in ("pending", "firing")]


def alert_problems(rules):
    problems = []
    down = sorted(a.get("backend") for a in active(rules, "BackupGateBackendDown"))
    if down != ["broken"]:
        problems.append(f"BackupGateBackendDown active for {down}, expected the broken backend only")
    not_ready = [(a.get("namespace"), a.get("pod")) for a in active(rules, "BackupGateNotReady")]
    if not_ready != [(NAMESPACE, POD)]:
        problems.append(f"BackupGateNotReady active for {not_ready}, expected {POD}")
    for quiet in ("BackupGateAbsent", "BackupGateTargetDown", "BackupGateAttemptHung"):
        if active(rules, quiet):
            problems.append(f"{quiet} is active: {active(rules, quiet)}")
    return problems


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not BINARY.exists():
        missing(f"the backup-gate binary ({BINARY}; set BGATE_BINARY)")
    tool("prometheus")
    s = Stack(tmp_path_factory.mktemp("obs"))
    try:
        s.start_prometheus(s.start_gate())
        expected_rules = [r["alert"] for g in yaml.safe_load(RULES_FILE.read_text())["groups"]
                          for r in g["rules"] if "alert" in r]
        dashboards = {p.name: load_dashboard(p) for p in DASHBOARDS}
        # Poll until every query has data and every rule has run, or time is up;
        # the tests then report whatever is still missing.
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            s.dashboards = {name: evaluate(s, d) for name, d in dashboards.items()}
            s.rules, s.rule_problems = rule_problems(s, expected_rules)
            s.alert_problems = alert_problems(s.rules)
            pending = any(any(p.values()) for _, p in s.dashboards.values()) or s.rule_problems or s.alert_problems
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(1)
        s.metric_names = set(s.api("label/__name__/values"))
        yield s
    finally:
        codes = s.stop()
    assert all(code is not None for code in codes.values()), f"processes left running: {codes}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.name for p in DASHBOARDS])
def test_template_variables_have_values(stack, path):
    variables, problems = stack.dashboards[path.name]
    assert not problems["variables"], "\n".join(problems["variables"])
    assert variables["namespace"] == NAMESPACE
    assert variables["pod"] == POD
    assert variables["backend"] in ("(broken|good)", "(good|broken)")


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.name for p in DASHBOARDS])
def test_every_panel_query_returns_series(stack, path):
    _, problems = stack.dashboards[path.name]
    assert not problems["variables"], "\n".join(problems["variables"])
    assert not problems["panels"], "\n".join(problems["panels"])


def test_every_rule_evaluates_without_error(stack):
    assert not stack.rule_problems, "\n".join(stack.rule_problems)


def test_rules_select_the_real_series(stack):
    """The promtool tests use hand-written series; here the rules meet the
    binary's: the failing backend and its pod are pending, nothing else."""
    assert not stack.alert_problems, "\n".join(stack.alert_problems)


def test_every_metric_in_rules_and_dashboards_is_exported(stack):
    exprs = [r["expr"] for g in yaml.safe_load(RULES_FILE.read_text())["groups"] for r in g["rules"]]
    exprs += [t["expr"] for p in DASHBOARDS for _, t in targets(load_dashboard(p))]
    referenced = set()
    for expr in exprs:
        referenced.update(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{", expr))
    unknown = sorted(referenced - stack.metric_names)
    assert not unknown, f"not exported by backup-gate (or Prometheus): {unknown}"
    assert len(referenced) >= 12
