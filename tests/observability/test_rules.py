"""The alerting rules: the checked-in plain file is the Helm template rendered
with the documented defaults, promtool accepts it, and every alert has a
promtool unit test that fires after `for:`, is only pending before, stays quiet
on healthy series, and fails when its alert is gone."""

import re
import shutil
import subprocess

import pytest
import yaml

from obs_harness import CHART, RULE_TESTS, RULES_FILE, RULES_README, render_rules, tool

SEVERITIES = {"critical", "warning", "info"}


def promtool(*args):
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True, timeout=120)


def load_rules(text=None):
    doc = yaml.safe_load(text if text is not None else RULES_FILE.read_text())
    return [r for g in doc["groups"] for r in g["rules"]]


def alert_names(text=None):
    return [r["alert"] for r in load_rules(text) if "alert" in r]


def documented_defaults():
    """The `alerts:` block between the alerts-defaults markers of rules/README.md."""
    text = RULES_README.read_text()
    block = re.search(r"<!-- alerts-defaults:begin -->\s*```yaml\n(.*?)```\s*<!-- alerts-defaults:end -->",
                      text, re.S)
    assert block, "rules/README.md has no alerts-defaults block"
    return yaml.safe_load(block.group(1))


def test_promtool_check_rules_accepts_the_rules_file():
    proc = promtool("check", "rules", str(RULES_FILE))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(load_rules())} rules found" in proc.stdout


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=[p.name for p in RULE_TESTS])
def test_promtool_unit_tests_pass(test_file):
    proc = promtool("test", "rules", str(test_file))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_checked_in_rules_are_the_rendered_template(tmp_path):
    rendered = render_rules(tmp_path / "rules.yml")
    assert rendered == RULES_FILE.read_text(), (
        "charts/backup-gate/rules/backup-gate.rules.yml is out of date with templates/_rules.tpl: "
        "run scripts/render-rules.sh")


def test_documented_defaults_are_the_template_defaults(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(documented_defaults()))
    rendered = render_rules(tmp_path / "rules.yml", "-f", str(values))
    assert rendered == RULES_FILE.read_text(), "the defaults in rules/README.md differ from the template's"


def leaves(tree, prefix=""):
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from leaves(value, path + ".")
        else:
            yield path, value


def sentinel(path, value):
    if path == "selector":
        return 'job="elsewhere"'
    if path == "runbookUrl":
        return "https://runbooks.example/backup-gate"
    if path == "additionalLabels":
        return {"team": "storage"}
    if isinstance(value, bool) or isinstance(value, dict):
        return None
    if isinstance(value, (int, float)):
        return 0.123 if value < 1 else 17
    if path.endswith("severity"):
        return "info" if value != "info" else "critical"
    return "7m"  # durations


def test_every_documented_value_changes_the_rules(tmp_path):
    defaults = RULES_FILE.read_text()
    checked = []
    for path, value in leaves(documented_defaults()["alerts"]):
        new = sentinel(path, value)
        if new is None:
            continue  # `disabled` has its own test
        values = tmp_path / "values.yaml"
        tree = {}
        node = tree
        *parents, last = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = new
        values.write_text(yaml.safe_dump({"alerts": tree}))
        rendered = render_rules(tmp_path / "rules.yml", "-f", str(values))
        assert rendered != defaults, f"alerts.{path} has no effect on the rules"
        checked.append(path)
    assert len(checked) >= 20


def test_zero_thresholds_and_templated_selectors_are_kept(tmp_path):
    rendered = render_rules(tmp_path / "rules.yml", "--namespace", "backups",
                            "--set", "alerts.backendFlapping.threshold=0",
                            "--set", 'alerts.selector=job="backup-gate"\\,namespace="{{ .Release.Namespace }}"')
    rules = {r["alert"]: r for r in load_rules(rendered)}
    assert rules["BackupGateBackendFlapping"]["expr"].rstrip().endswith(") > 0")
    assert 'backup_gate_backend_up{job="backup-gate",namespace="backups"} == 0' in rules["BackupGateBackendDown"]["expr"]
    checked = tmp_path / "checked.yml"
    checked.write_text(rendered)
    proc = promtool("check", "rules", str(checked))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_rules_follow_the_conventions():
    names = alert_names()
    assert len(names) == len(set(names))
    assert {"BackupGateBackendDown", "BackupGateNotReady", "BackupGateBackendFlapping",
            "BackupGateCheckSlow", "BackupGateAbsent", "BackupGateAttemptHung"} <= set(names)
    for rule in load_rules():
        name = rule["alert"]
        assert re.fullmatch(r"BackupGate(?:[A-Z][a-z0-9]+)+", name), name
        assert rule["labels"]["severity"] in SEVERITIES, name
        assert re.fullmatch(r"[0-9]+[smhd]", rule["for"]) and not re.fullmatch(r"0+[smhd]", rule["for"]), name
        notes = rule["annotations"]
        assert set(notes) == {"summary", "description", "runbook_url"}, name
        assert notes["runbook_url"].endswith("#" + name.lower()), name
        assert f"### {name}\n" in RULES_README.read_text(), f"no runbook section for {name}"
        assert "{{" not in notes["summary"], name
        # Prometheus must receive its own templates, not Helm's leftovers.
        if name != "BackupGateAbsent":
            assert "{{ $labels.pod }}" in notes["description"], name
        assert "{{`" not in notes["description"] and "`}}" not in notes["description"], name


def unit_tests_of(alert):
    """(positive, negative, pending) checks of `alert` in the promtool test files."""
    found = {"positive": 0, "negative": 0, "pending": 0}
    for path in RULE_TESTS:
        doc = yaml.safe_load(path.read_text())
        for group in doc["tests"]:
            for case in group.get("alert_rule_test", []):
                if case["alertname"] == alert:
                    found["positive" if case.get("exp_alerts") else "negative"] += 1
            for case in group.get("promql_expr_test", []):
                if f'alertname="{alert}"' in case["expr"] and \
                        any('alertstate="pending"' in s["labels"] for s in case["exp_samples"]):
                    found["pending"] += 1
    return found


@pytest.mark.parametrize("alert", alert_names())
def test_every_alert_has_unit_tests(alert):
    found = unit_tests_of(alert)
    assert found["positive"] >= 1, f"{alert}: no case where it fires"
    assert found["negative"] >= 2, f"{alert}: needs a case before `for:` and a healthy case"
    assert found["pending"] >= 1, f"{alert}: no case showing it pending before `for:` elapses"


@pytest.mark.parametrize("alert", alert_names())
def test_unit_tests_fail_without_their_alert(alert, tmp_path):
    """Renders the rules with `alert` disabled: its unit tests must fail, so they
    test the rule and not only the absence of alerts."""
    render_rules(tmp_path / "backup-gate.rules.yml", "--set", f"alerts.disabled.{alert}=true")
    assert alert not in alert_names((tmp_path / "backup-gate.rules.yml").read_text())
    (tmp_path / "tests").mkdir()
    files = []
    for path in RULE_TESTS:
        if f"alertname: {alert}\n" in path.read_text():
            shutil.copy(path, tmp_path / "tests" / path.name)
            files.append(str(tmp_path / "tests" / path.name))
    assert files, f"no promtool test mentions {alert}"
    proc = promtool("test", "rules", *files)
    assert proc.returncode != 0, f"the tests of {alert} pass without it:\n{proc.stdout}"


def test_chart_values_carry_the_documented_defaults():
    """The chart's values.yaml holds the documented defaults, except the
    selector: the chart may scope it to its release (job from the Service name,
    the release's namespace), where the plain rules file selects job="backup-gate"."""
    values = CHART / "values.yaml"
    if not values.exists():
        pytest.skip("the chart has no values.yaml yet")
    chart_alerts = dict((yaml.safe_load(values.read_text()) or {}).get("alerts") or {})
    documented = dict(documented_defaults()["alerts"])
    selector = chart_alerts.pop("selector", None)
    documented.pop("selector")
    assert isinstance(selector, str) and "job" in selector, "values.yaml needs alerts.selector"
    assert chart_alerts == documented, (
        "values.yaml `alerts` must be the block documented in charts/backup-gate/rules/README.md")
