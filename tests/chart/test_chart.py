"""Tests of the Helm chart in charts/backup-gate, with the real helm.

Every assertion reads the rendered YAML (yaml.safe_load_all), never the template
text. Built-in kinds are validated offline with kubernetes-validate against the
first Kubernetes release with native sidecars on by default (1.29) and the newest
one it ships; the Prometheus Operator kinds are checked structurally and the
alert rules with promtool. scripts/chart-deps.sh installs helm,
kubernetes-validate and PyYAML (promtool is Debian's prometheus package).

Under CI (CI set) a missing tool fails the run instead of skipping.
"""

import copy
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import textwrap

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = pathlib.Path(os.environ.get("BGATE_CHART_DIR", ROOT / "charts" / "backup-gate"))
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
UNDER_CI = bool(os.environ.get("CI"))
RELEASE = "gate"
NAMESPACE = "backup"
FULLNAME = "gate-backup-gate"
# The first release with native sidecars on by default; the chart's native mode
# refuses older ones.
KUBE_VERSION = "1.29.0"
SECRET_KEYS = ["password", "secret_access_key", "account_key", "sas_token"]


def _missing(what):
    if UNDER_CI:
        pytest.fail(f"{what} is missing (run scripts/chart-deps.sh)")
    pytest.skip(f"{what} is missing (run scripts/chart-deps.sh)")


def _find_helm():
    candidates = [os.environ.get("HELM_BINARY")]
    gopath = shutil.which("go") and subprocess.run(
        ["go", "env", "GOPATH"], capture_output=True, text=True).stdout.strip()
    if gopath:
        candidates.append(os.path.join(gopath, "bin", "helm"))
    candidates.append(shutil.which("helm"))
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


HELM = _find_helm()


@pytest.fixture(autouse=True)
def _tools():
    if HELM is None:
        _missing("helm")


def kubernetes_validate():
    try:
        import kubernetes_validate.utils as utils
    except ImportError:
        _missing("kubernetes-validate")
    return utils


# --- rendering ---------------------------------------------------------------

def helm(*args, check=True):
    proc = subprocess.run([HELM, *map(str, args)], capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(map(str, args))} failed:\n{proc.stderr}")
    return proc


def _template_args(values=(), sets=(), chart=CHART, kube_version=KUBE_VERSION):
    args = ["template", RELEASE, chart, "--namespace", NAMESPACE, "--kube-version", kube_version]
    for v in values:
        args += ["-f", v]
    for s in sets:
        args += ["--set", s]
    return args


def render(values=(), sets=(), **kw):
    """The documents helm renders, as parsed YAML."""
    out = helm(*_template_args(values, sets, **kw)).stdout
    return [d for d in yaml.safe_load_all(out) if d is not None]


def render_error(values=(), sets=(), **kw):
    """helm's error message for a render that must fail."""
    proc = helm(*_template_args(values, sets, **kw), check=False)
    assert proc.returncode != 0, f"the render succeeded:\n{proc.stdout[:2000]}"
    return proc.stderr


def ci(name):
    path = CHART / "ci" / f"{name}-values.yaml"
    assert path.exists(), path
    return path


def write_values(tmp_path, data, name="values.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def kinds(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def one(docs, kind):
    found = kinds(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def pod_template(docs):
    return one(docs, "Deployment")["spec"]["template"]


def pod_specs(docs):
    return [d["spec"]["template"]["spec"] for d in docs
            if d.get("kind") in ("Deployment", "StatefulSet", "DaemonSet")]


def all_containers(spec):
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


def named(containers, name):
    found = [c for c in containers or [] if c["name"] == name]
    assert len(found) == 1, f"expected one container {name!r} in {[c['name'] for c in containers or []]}"
    return found[0]


def gate_config(docs, configmap=f"{FULLNAME}-config"):
    cms = [d for d in kinds(docs, "ConfigMap") if d["metadata"]["name"] == configmap]
    assert len(cms) == 1, f"no ConfigMap {configmap}"
    text = cms[0]["data"]["gate.yaml"]
    return text, yaml.safe_load(text)


def sidecar_of(spec):
    return named(all_containers(spec), "backup-gate")


def gate_mode(values):
    return (yaml.safe_load(pathlib.Path(values).read_text()).get("worker") or {}).get("gate", "sidecar")


# --- lint and schemas of every ci values file --------------------------------

@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_lint_strict(values):
    proc = helm("lint", "--strict", CHART, "-f", values, "--kube-version", KUBE_VERSION, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


def test_every_feature_has_ci_values():
    names = {p.name for p in CI_VALUES}
    for feature in ["posix", "s3-with-secret", "worker-disabled", "monitoring-on", "classic-sidecar", "ha",
                    "process-gate"]:
        assert f"{feature}-values.yaml" in names


def validate_builtin_kinds(docs, versions):
    """kubernetes-validate (strict: unknown fields are errors) on every built-in kind."""
    utils = kubernetes_validate()
    checked = []
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # CRDs: checked structurally below
        for version in versions:
            try:
                utils.validate(doc, version, strict=True)
            except utils.ValidationError as e:
                raise AssertionError(f"{doc['kind']} {doc['metadata']['name']} is invalid for "
                                     f"Kubernetes {version}: {e}") from None
        checked.append(doc["kind"])
    return checked


def schema_versions():
    utils = kubernetes_validate()
    return [KUBE_VERSION, utils.latest_version()]


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_rendered_objects_are_valid_kubernetes(values):
    docs = render([values])
    checked = validate_builtin_kinds(docs, schema_versions())
    assert "ConfigMap" in checked and "Service" in checked


def test_classic_mode_is_valid_on_clusters_without_native_sidecars():
    docs = render([ci("classic-sidecar")], kube_version="1.25.0")
    validate_builtin_kinds(docs, ["1.25.0"])
    assert "Deployment" in [d["kind"] for d in docs]


def test_native_mode_refuses_clusters_before_1_29():
    err = render_error([ci("posix")], kube_version="1.28.9")
    assert "sidecar.mode=native needs Kubernetes 1.29" in err and "sidecar.mode=classic" in err


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_pod_references_are_consistent(values):
    """Every mount names a volume of the pod, every probe a port of its container."""
    for spec in pod_specs(render([values])):
        volumes = {v["name"] for v in spec.get("volumes") or []}
        assert len(volumes) == len(spec.get("volumes") or []), "duplicate volume names"
        for c in all_containers(spec):
            for m in c.get("volumeMounts") or []:
                assert m["name"] in volumes, f"{c['name']} mounts unknown volume {m['name']}"
            ports = {p.get("name") for p in c.get("ports") or []}
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                if probe in c:
                    assert c[probe]["httpGet"]["port"] in ports, f"{c['name']}.{probe}"


# --- the sidecar in the pod --------------------------------------------------

def test_native_sidecar_gates_the_worker():
    spec = pod_template(render([ci("posix")]))["spec"]
    gate = named(spec["initContainers"], "backup-gate")
    assert gate["restartPolicy"] == "Always"
    assert gate["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    for probe, path in [("startupProbe", "/readyz"), ("readinessProbe", "/readyz"),
                        ("livenessProbe", "/livez")]:
        assert gate[probe]["httpGet"] == {"path": path, "port": "http"}, probe
    assert gate["readinessProbe"]["failureThreshold"] == 1
    assert gate["args"][:2] == ["--config", "/etc/backup-gate/config/gate.yaml"]
    worker = named(spec["containers"], "worker")
    assert "restartPolicy" not in worker
    assert [c["name"] for c in spec["containers"]] == ["worker"]
    assert "worker" not in [c["name"] for c in spec["initContainers"]]


def test_classic_mode_makes_a_second_container():
    spec = pod_template(render([ci("posix")], ["sidecar.mode=classic"]))["spec"]
    assert "initContainers" not in spec
    assert [c["name"] for c in spec["containers"]] == ["worker", "backup-gate"]
    gate = named(spec["containers"], "backup-gate")
    assert "restartPolicy" not in gate and "startupProbe" not in gate
    assert gate["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert gate["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}


def test_classic_init_check_runs_backup_gate_check_before_the_worker():
    spec = pod_template(render([ci("classic-sidecar")]))["spec"]
    init = spec["initContainers"]
    assert [c["name"] for c in init] == ["backup-gate-init"]
    assert init[0]["args"] == ["check", "--config", "/etc/backup-gate/config/gate.yaml"]
    assert "restartPolicy" not in init[0]
    assert [c["name"] for c in spec["containers"]] == ["worker", "backup-gate"]


def test_port_is_one_value_for_process_probes_and_service():
    docs = render([ci("posix")], ["sidecar.port=9100", "config.server.address=[::]:1234"])
    gate = sidecar_of(pod_template(docs)["spec"])
    assert gate["ports"][0]["containerPort"] == 9100
    _, config = gate_config(docs)
    assert config["server"]["address"] == "[::]:9100"
    service = one(docs, "Service")
    assert service["spec"]["ports"][0]["name"] == "http"
    assert service["spec"]["ports"][0]["targetPort"] == gate["ports"][0]["name"]


def test_startup_window_follows_the_check_settings():
    def threshold(*sets):
        gate = sidecar_of(pod_template(render([ci("posix")], sets))["spec"])
        return gate["startupProbe"]["failureThreshold"] * gate["startupProbe"]["periodSeconds"]

    assert threshold() == 300  # the floor: 10s + 2 x (60s + 10s) is less
    # The longest backend wins: 10s + 2 x (5m + 10s) = 630s.
    assert threshold("config.backends[0].check.retry.max=5m") == 630
    assert threshold("config.check.timeout=1m", "config.check.retry.max=2m") == 420
    gate = sidecar_of(pod_template(render([ci("posix")], ["sidecar.probes.startup.failureThreshold=7"]))["spec"])
    assert gate["startupProbe"]["failureThreshold"] == 7


def test_bad_duration_in_a_backend_fails_naming_it(tmp_path):
    values = yaml.safe_load(ci("posix").read_text())
    values["config"]["backends"][0]["check"] = {"retry": {"max": "5 minutes"}}
    err = render_error([write_values(tmp_path, values)])
    assert re.search(r"config\.backends(\[0\]|\.0)\.check\.retry\.max", err), err


def test_every_container_is_locked_down():
    for values in CI_VALUES:
        for spec in pod_specs(render([values])):
            pod_sc = spec.get("securityContext", {})
            assert spec["automountServiceAccountToken"] is False
            for c in all_containers(spec):
                sc = c.get("securityContext", {})
                where = f"{values.name}: {c['name']}"
                assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, where
                assert sc.get("allowPrivilegeEscalation") is False, where
                assert sc.get("readOnlyRootFilesystem") is True, where
                assert "ALL" in sc.get("capabilities", {}).get("drop", []), where
                seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
                assert seccomp.get("type") == "RuntimeDefault", where
            # With worker.gate=process the only backup-gate container is the
            # init container that copies it; the worker's context is the user's.
            name = "backup-gate-install" if gate_mode(values) == "process" else "backup-gate"
            gate = named(all_containers(spec), name)
            assert gate["securityContext"]["runAsUser"] == 65532
            assert gate["securityContext"]["runAsGroup"] == 65532
            assert gate["resources"] == {"requests": {"cpu": "10m", "memory": "16Mi"},
                                         "limits": {"memory": "64Mi"}}


def test_service_account_is_created_without_token():
    docs = render([ci("posix")])
    sa = one(docs, "ServiceAccount")
    assert sa["automountServiceAccountToken"] is False
    assert pod_template(docs)["spec"]["serviceAccountName"] == sa["metadata"]["name"]
    docs = render([ci("posix")], ["serviceAccount.create=false"])
    assert not kinds(docs, "ServiceAccount")
    assert pod_template(docs)["spec"]["serviceAccountName"] == "default"


def test_labels_and_selectors():
    docs = render([ci("posix")])
    deployment = one(docs, "Deployment")
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector == {"app.kubernetes.io/name": "backup-gate", "app.kubernetes.io/instance": RELEASE}
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = one(docs, "Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert selector.items() <= pod_labels.items()
    for doc in docs:
        assert len(doc["metadata"]["name"]) <= 63
        assert doc["metadata"]["labels"]["helm.sh/chart"] == "backup-gate-0.1.0"


def test_long_release_names_are_cut_to_63():
    long = "r" * 53  # helm's longest release name
    out = helm("template", long, CHART, "-f", ci("posix"), "--kube-version", KUBE_VERSION).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    name = one(docs, "Deployment")["metadata"]["name"]
    assert len(name) == 63 and not name.endswith("-")


def test_pod_disruption_budget_is_optional():
    assert not kinds(render([ci("posix")]), "PodDisruptionBudget")
    docs = render([ci("ha")])
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": one(docs, "Deployment")["spec"]["selector"]}
    pdb = one(render([ci("ha")], ["podDisruptionBudget.minAvailable=50%"]), "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == "50%" and "maxUnavailable" not in pdb["spec"]


def test_service_carries_worker_ports():
    docs = render([ci("ha")])
    service = one(docs, "Service")
    assert [p["name"] for p in service["spec"]["ports"]] == ["http", "worker-http"]
    worker = named(pod_template(docs)["spec"]["containers"], "worker")
    assert worker["ports"][0]["name"] == "worker-http"
    assert one(docs, "Deployment")["spec"]["replicas"] == 3


# --- config ------------------------------------------------------------------

def backup_gate_binary():
    env = os.environ.get("BGATE_BINARY")
    for candidate in [env, ROOT / "build" / "sidecar" / "backup-gate"]:
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_config_is_accepted_by_backup_gate(values, tmp_path):
    text, config = gate_config(render([values]))
    assert isinstance(config, dict) and config["backends"]
    assert set(config) <= {"server", "check", "readiness", "state_file", "worker", "backends"}
    assert ("worker" in config) == (gate_mode(values) == "process")
    binary = backup_gate_binary()
    if binary is None:
        if UNDER_CI:
            pytest.fail("no backup-gate binary (BGATE_BINARY or build/sidecar/backup-gate)")
        pytest.skip("no backup-gate binary built")
    path = tmp_path / "gate.yaml"
    path.write_text(text)
    proc = subprocess.run([binary, "validate", "--config", str(path)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_backend_keys_are_passed_through():
    _, config = gate_config(render([ci("posix")]))
    assert config["backends"] == [{"name": "nfs", "driver": "posix", "path": "/var/lib/cinder/backups",
                                   "write_probe": True, "min_free_bytes": 10737418240}]
    assert config["check"]["retry"] == {"initial": "1s", "max": "60s"}


def test_checksum_annotation_follows_the_config():
    def annotation_and_data(*sets):
        docs = render([ci("posix")], sets)
        annotations = pod_template(docs)["metadata"]["annotations"]
        text, _ = gate_config(docs)
        return annotations["checksum/backup-gate-config"], text

    base, text = annotation_and_data()
    assert base == hashlib.sha256(text.rstrip("\n").encode()).hexdigest()
    assert annotation_and_data("config.check.interval=45s")[0] != base
    assert annotation_and_data("config.backends[0].path=/srv/backups")[0] != base
    assert annotation_and_data("replicas=3")[0] == base


def test_no_backends_fails_clearly():
    err = render_error(sets=["worker.image.repository=w", "worker.image.tag=v1"])
    assert "config.backends: at least one backend is required" in err


def test_worker_image_is_required_with_a_worker():
    err = render_error(sets=["config.backends[0].name=a", "config.backends[0].driver=posix",
                             "config.backends[0].path=/x"])
    assert "worker.image.repository is required" in err


def test_state_file_is_shared_read_only_with_the_worker():
    docs = render([ci("posix")])
    spec = pod_template(docs)["spec"]
    _, config = gate_config(docs)
    assert config["state_file"] == "/run/backup-gate/state.json"
    volume = [v for v in spec["volumes"] if v["name"] == "backup-gate-state"]
    assert volume and "emptyDir" in volume[0]
    gate_mount = [m for m in sidecar_of(spec)["volumeMounts"] if m["name"] == "backup-gate-state"]
    worker_mount = [m for m in named(spec["containers"], "worker")["volumeMounts"]
                    if m["name"] == "backup-gate-state"]
    assert gate_mount == [{"name": "backup-gate-state", "mountPath": "/run/backup-gate"}]
    assert worker_mount == [{"name": "backup-gate-state", "mountPath": "/run/backup-gate", "readOnly": True}]

    docs = render([ci("posix")], ["config.state_file="])
    spec = pod_template(docs)["spec"]
    _, config = gate_config(docs)
    assert "state_file" not in config
    assert "backup-gate-state" not in [v["name"] for v in spec["volumes"]]
    for c in all_containers(spec):
        assert "backup-gate-state" not in [m["name"] for m in c.get("volumeMounts") or []]


# --- secrets -----------------------------------------------------------------

def test_secrets_are_mounted_read_only_and_referenced_by_path():
    values = yaml.safe_load(ci("s3-with-secret").read_text())
    docs = render([ci("s3-with-secret")])
    assert not kinds(docs, "Secret"), "the chart must not create Secrets"
    spec = pod_template(docs)["spec"]
    gate = sidecar_of(spec)
    volumes = {v["name"]: v for v in spec["volumes"]}
    mount_paths = []
    for wanted in values["secretMounts"]:
        mounts = [m for m in gate["volumeMounts"]
                  if "secret" in volumes[m["name"]] and
                  volumes[m["name"]]["secret"]["secretName"] == wanted["secretName"]]
        assert len(mounts) == 1, wanted
        assert mounts[0]["mountPath"] == wanted["mountPath"]
        assert mounts[0]["readOnly"] is True
        secret = volumes[mounts[0]["name"]]["secret"]
        assert secret.get("items", []) == wanted.get("items", [])
        assert secret["defaultMode"] == wanted.get("defaultMode", 0o440)
        mount_paths.append(wanted["mountPath"])
    worker = named(spec["containers"], "worker")
    secret_volumes = {n for n, v in volumes.items() if "secret" in v}
    assert not [m for m in worker.get("volumeMounts") or [] if m["name"] in secret_volumes]

    _, config = gate_config(docs)
    file_keys = {k: v for b in config["backends"] for k, v in b.items() if k.endswith("_file")}
    assert {"access_key_id_file", "secret_access_key_file"} <= set(file_keys)
    for key, path in file_keys.items():
        assert any(path.startswith(p.rstrip("/") + "/") for p in mount_paths), (key, path)


def _all_keys(node):
    if isinstance(node, dict):
        for k, v in node.items():
            yield k
            yield from _all_keys(v)
    elif isinstance(node, list):
        for v in node:
            yield from _all_keys(v)


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_nothing_secret_in_the_configmap(values):
    _, config = gate_config(render([values]))
    assert not set(_all_keys(config)) & set(SECRET_KEYS + ["access_key_id", "token", "key"])


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_inline_secret_fails_the_render(key, tmp_path):
    values = yaml.safe_load(ci("s3-with-secret").read_text())
    values["config"]["backends"][0][key] = "hunter2-not-a-real-secret"
    err = render_error([write_values(tmp_path, values)])
    assert f'config.backends[0] (s3): "{key}" would put a secret into the ConfigMap' in err
    assert "secretMounts" in err
    assert "hunter2" not in err


# --- worker disabled: the sidecar for other pods -----------------------------

def test_worker_disabled_renders_no_worker():
    docs = render([ci("worker-disabled")])
    assert not pod_specs(docs)
    assert not kinds(docs, "ServiceAccount") and not kinds(docs, "PodDisruptionBudget")
    assert "worker" not in json.dumps(docs).replace("worker-disabled", "")
    gate_config(docs)
    service = one(docs, "Service")
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "cinder-backup",
                                           "app.kubernetes.io/instance": "openstack"}


def test_worker_disabled_needs_a_service_selector():
    err = render_error(sets=["worker.enabled=false", "config.backends[0].name=a",
                             "config.backends[0].driver=posix", "config.backends[0].path=/x"])
    assert "service.selector" in err


def readme_block(marker):
    """The fenced block that follows `<!-- marker -->` in the chart README."""
    text = (CHART / "README.md").read_text()
    m = re.search(r"<!-- %s -->\s*```[a-z]*\n(.*?)^\s*```" % re.escape(marker), text, re.S | re.M)
    assert m, f"no block marked {marker} in the chart README"
    return textwrap.dedent(m.group(1))


def parent_chart(tmp_path):
    """A chart of a user's own worker that includes the sidecar, written from the README's snippet."""
    parent = tmp_path / "my-worker"
    (parent / "templates").mkdir(parents=True)
    (parent / "Chart.yaml").write_text(readme_block("parent-chart-yaml"))
    (parent / "values.yaml").write_text(readme_block("parent-values"))
    (parent / "templates" / "deployment.yaml").write_text(readme_block("parent-deployment"))
    shutil.copytree(CHART, parent / "charts" / "backup-gate")
    return parent


def readme_values_docs(tmp_path, block):
    """The README's values block `block` passes `helm lint --strict`; its
    rendering, validated against the Kubernetes schemas."""
    values = tmp_path / f"{block}.yaml"
    values.write_text(readme_block(block))
    proc = helm("lint", "--strict", CHART, "-f", values, "--kube-version", KUBE_VERSION, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    docs = render([values])
    validate_builtin_kinds(docs, schema_versions())
    return docs


def test_readme_install_values_render(tmp_path):
    docs = readme_values_docs(tmp_path, "install-values")
    gate = sidecar_of(pod_template(docs)["spec"])
    assert gate["image"] == "registry.example.org/backup-gate:0.1.0"
    assert "/etc/backup-gate/secrets/s3" in [m["mountPath"] for m in gate["volumeMounts"]]


@pytest.mark.parametrize("mode", ["native", "classic"])
def test_readme_snippet_adds_the_sidecar_to_another_chart(tmp_path, mode):
    parent = parent_chart(tmp_path)
    out = helm("template", "openstack", parent, "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION,
               "--set", f"backup-gate.sidecar.mode={mode}").stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    validate_builtin_kinds(docs, schema_versions())
    deployment = one(docs, "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    lists = {"native": "initContainers", "classic": "containers"}
    gate = named(spec[lists[mode]], "backup-gate")
    assert (gate.get("restartPolicy") == "Always") == (mode == "native")
    other = spec["containers" if mode == "native" else "initContainers"] or []
    assert "backup-gate" not in [c["name"] for c in other]
    volumes = {v["name"]: v for v in spec["volumes"]}
    configmap = volumes["backup-gate-config"]["configMap"]["name"]
    text, _ = gate_config(docs, configmap)
    assert deployment["spec"]["template"]["metadata"]["annotations"]["checksum/backup-gate-config"] == \
        hashlib.sha256(text.rstrip("\n").encode()).hexdigest()
    for m in gate["volumeMounts"]:
        assert m["name"] in volumes
    service = one(docs, "Service")
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert spec["securityContext"]["fsGroup"] == 65532


# --- worker.gate=process: backup-gate runs the worker ------------------------

GATE_DIR = "/gate"
GATE_BINARY = "/gate/bin/backup-gate"
# backup-gate is linked against Debian 12 libraries, so the worker starts it
# through the loader copied with them (see templates/_process.tpl).
LOADER_PREFIX = ["/gate/lib/ld.so", "--library-path", "/gate/lib", "--argv0", GATE_BINARY]
# The module of the s3, swift and azure_blob drivers, as the image installs it
# (where the binary's rpath, $ORIGIN/../lib/backup-gate, finds it).
MODULE_NAME = "libbackup-gate-objectstores.so"
IMAGE_MODULE = f"/usr/local/lib/backup-gate/{MODULE_NAME}"
CONFIG_PATH = "/etc/backup-gate/config/gate.yaml"


def process_pod(values=None, sets=(), tmp_path=None):
    files = [ci("process-gate")]
    if values is not None:
        files.append(write_values(tmp_path, values, "process.yaml"))
    docs = render(files, sets)
    return docs, pod_template(docs)["spec"]


def test_process_gate_copies_backup_gate_into_an_empty_dir():
    docs, spec = process_pod()
    init = named(spec["initContainers"], "backup-gate-install")
    assert [c["name"] for c in spec["initContainers"]] == ["backup-gate-install"]
    assert init["image"] == "backup-gate:0.1.0"
    assert init["command"][:2] == ["/bin/sh", "-c"] and len(init["command"]) == 3
    script = init["command"][2]
    # The object-store module goes with the binary, into lib/ where the
    # loader's --library-path makes dlopen find it, with its own libraries.
    assert f"module={IMAGE_MODULE}\n" in script
    assert 'cp "$module" /gate/lib/\n' in script
    assert '"$(ldd "$module")"' in script
    assert "restartPolicy" not in init
    assert init["volumeMounts"] == [{"name": "backup-gate-bin", "mountPath": GATE_DIR}]
    volume = named(spec["volumes"], "backup-gate-bin")
    assert volume == {"name": "backup-gate-bin", "emptyDir": {"sizeLimit": "64Mi"}}
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())["sidecar"]
    assert init["securityContext"] == defaults["securityContext"]
    assert init["resources"] == defaults["resources"]


def test_process_gate_has_no_backup_gate_container():
    _, spec = process_pod()
    assert [c["name"] for c in spec["containers"]] == ["worker"]
    assert "backup-gate" not in [c["name"] for c in all_containers(spec)]
    for c in all_containers(spec):
        assert "startupProbe" not in c and "restartPolicy" not in c


def test_process_gate_wraps_the_worker_command_in_order(tmp_path):
    command = ["/var/lib/kolla/venv/bin/python3", "-m", "cinder.cmd.backup"]
    args = ["--config-file", "/etc/cinder/cinder.conf", "--log-file", "-"]
    _, spec = process_pod({"worker": {"command": command, "args": args},
                           "sidecar": {"logLevel": "debug", "extraArgs": ["--address", "0.0.0.0:8080"]}},
                          tmp_path=tmp_path)
    worker = named(spec["containers"], "worker")
    assert worker["image"] == "quay.io/openstack.kolla/cinder-backup:2024.1-ubuntu-jammy"
    argv = worker["command"] + worker.get("args", [])
    assert argv[:len(LOADER_PREFIX)] == LOADER_PREFIX
    gate_argv = argv[len(LOADER_PREFIX):]
    assert gate_argv[:4] == [GATE_BINARY, "run", "--config", CONFIG_PATH]
    split = gate_argv.index("--")
    assert gate_argv[4:split] == ["--log-level", "debug", "--address", "0.0.0.0:8080"]
    assert gate_argv[split + 1:] == command + args
    assert worker["args"] == args


def test_process_gate_without_worker_command_fails_clearly():
    err = render_error([ci("process-gate")], ["worker.command=null"])
    assert "worker.gate=process: set worker.command" in err
    assert "cannot discover the image's entrypoint" in err


def test_process_gate_mounts_what_backup_gate_needs_into_the_worker():
    values = yaml.safe_load(ci("process-gate").read_text())
    _, spec = process_pod()
    worker = named(spec["containers"], "worker")
    mounts = {m["mountPath"]: m for m in worker["volumeMounts"]}
    assert len(mounts) == len(worker["volumeMounts"]), "a path is mounted twice"
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert worker["volumeMounts"][0] == values["worker"]["volumeMounts"][0]  # the worker's own first
    config = mounts["/etc/backup-gate/config"]
    assert config["readOnly"] is True
    assert volumes[config["name"]]["configMap"]["name"] == f"{FULLNAME}-config"
    for wanted in values["secretMounts"]:
        mount = mounts[wanted["mountPath"]]
        assert mount["readOnly"] is True
        assert volumes[mount["name"]]["secret"]["secretName"] == wanted["secretName"]
    assert mounts[GATE_DIR] == {"name": "backup-gate-bin", "mountPath": GATE_DIR, "readOnly": True}
    # backup-gate writes state_file from inside the worker container now.
    assert mounts["/run/backup-gate"] == {"name": "backup-gate-state", "mountPath": "/run/backup-gate"}


def test_process_gate_brings_the_sidecars_mounts_and_environment(tmp_path):
    values = yaml.safe_load(ci("posix").read_text())
    values["worker"].update(gate="process", command=["cinder-backup"],
                            env=[{"name": "OS_DEBUG", "value": "1"}])
    values["sidecar"]["env"] = [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}]
    docs = render([write_values(tmp_path, values)])
    worker = named(pod_template(docs)["spec"]["containers"], "worker")
    # posix-values mounts the backups PVC into both the worker and the sidecar: once here.
    assert [m["mountPath"] for m in worker["volumeMounts"]].count("/var/lib/cinder/backups") == 1
    assert [e["name"] for e in worker["env"]] == ["OS_DEBUG", "HTTPS_PROXY"]

    values["worker"]["volumeMounts"] = [{"name": "backups", "mountPath": "/etc/backup-gate/config"}]
    err = render_error([write_values(tmp_path, values)])
    assert 'worker.volumeMounts mounts "backups" at /etc/backup-gate/config' in err


def test_process_gate_probes_are_on_the_worker():
    docs, spec = process_pod()
    worker = named(spec["containers"], "worker")
    assert worker["ports"][0] == {"name": "http", "containerPort": 8080, "protocol": "TCP"}
    assert worker["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert worker["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert worker["readinessProbe"]["failureThreshold"] == 1
    assert one(docs, "Service")["spec"]["ports"][0]["targetPort"] == "http"
    _, config = gate_config(docs)
    assert config["server"]["address"] == "0.0.0.0:8080"


def test_process_gate_config_has_the_worker_section():
    values = yaml.safe_load(ci("process-gate").read_text())
    docs, _ = process_pod()
    _, config = gate_config(docs)
    assert config["worker"] == {"stop_after": "2m", "stop_signal": "SIGTERM", "stop_timeout": "10m",
                                "restart": "on-failure", "restart_backoff": {"initial": "1s", "max": "60s"}}
    assert values["config"]["worker"].items() <= config["worker"].items()
    _, config = gate_config(render([ci("process-gate")], ["worker.gate=sidecar"]))
    assert "worker" not in config  # only `run` reads it


def test_process_gate_needs_a_grace_period_longer_than_stop_timeout():
    err = render_error([ci("process-gate")], ["terminationGracePeriodSeconds=600"])
    assert "terminationGracePeriodSeconds (600) must be longer than config.worker.stop_timeout (10m)" in err
    # The chart's defaults fit together.
    render([ci("posix")], ["worker.gate=process", "worker.command={cinder-backup}"])


def test_process_gate_needs_the_chart_worker():
    err = render_error([ci("worker-disabled")], ["worker.gate=process"])
    assert "worker.gate=process wraps the command of the chart's own worker container" in err


def test_process_gate_runs_on_clusters_without_native_sidecars():
    docs = render([ci("process-gate")], kube_version="1.25.0")
    validate_builtin_kinds(docs, ["1.25.0"])


def test_readme_process_values_render(tmp_path):
    docs = readme_values_docs(tmp_path, "process-values")
    worker = named(pod_template(docs)["spec"]["containers"], "worker")
    assert worker["command"][-2:] == ["--", "cinder-backup"]
    assert "/etc/backup-gate/secrets/s3" in [m["mountPath"] for m in worker["volumeMounts"]]
    assert gate_config(docs)[1]["worker"]["stop_after"] == "2m"


WORKER_GO = """
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	fmt.Printf("worker argv=%s ld_library_path=%q\\n", strings.Join(os.Args[1:], " "), os.Getenv("LD_LIBRARY_PATH"))
	os.Exit(7)
}
"""

# Runs as root in a mount and network namespace of its own: $1 becomes the
# backup-gate image (this Debian 12 machine's file system, with the built binary
# at /usr/local/bin/backup-gate and its module under /usr/local/lib), $2 a
# worker image holding nothing but a static worker, the config and an empty
# backup directory. Both share the emptyDir $3.
CONTAINERS_SH = r"""
set -eu
image=$1 foreign=$2 gate=$3 bindir=$4 libdir=$5 init=$6
shift 6  # the rest: the worker container's command and args
mkdir -p "$image/usr" "$image/etc" "$image/dev" "$image/gate"
mount --rbind /usr "$image/usr"
mount --rbind /etc "$image/etc"
mount --rbind /dev "$image/dev"
for d in bin sbin lib lib64; do
  if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$image/$d"
  elif [ -d "/$d" ]; then mkdir "$image/$d"; mount --rbind "/$d" "$image/$d"; fi
done
mount --bind "$bindir" "$image/usr/local/bin"
mount --bind "$libdir" "$image/usr/local/lib"
mount --bind "$gate" "$image/gate"
# The init container, as the chart renders it.
chroot --userspec=65532:65532 "$image" /bin/sh -c "$(cat "$init")"
mkdir -p "$foreign/gate" "$foreign/dev" "$foreign/proc"
mount --bind "$gate" "$foreign/gate"
mount -o remount,bind,ro "$foreign/gate"
mount --rbind /dev "$foreign/dev"
mount -t proc proc "$foreign/proc"
ip link set lo up 2>/dev/null || true
# The worker container, as the chart renders it.
set +e
chroot --userspec=1000:1000 "$foreign" "$@"
echo "exit=$?"
"""


def test_process_gate_bundle_runs_in_an_image_without_its_libraries(tmp_path):
    """The rendered init container copies backup-gate so that the rendered worker
    command runs it in a root file system that has none of its libraries, and
    backup-gate starts the worker with its arguments, in order, once storage works.
    An s3 backend (unreachable; `any` keeps the pod ready) makes it load the
    object-store module from the copy too: a module or library missing from the
    bundle would end it with exit 2 before the worker starts."""
    binary = backup_gate_binary()
    go, unshare = shutil.which("go"), shutil.which("unshare")
    if binary is None or go is None or unshare is None or os.geteuid() != 0:
        _missing("root, unshare, go and a built backup-gate")
    module = pathlib.Path(binary).parent.parent / "lib" / "backup-gate" / MODULE_NAME
    if not module.is_file():
        pytest.fail(f"no object-store module at {module}, where the build puts it")
    values = {"worker": {"command": ["/bin/cinder-backup"], "args": ["--config-file", "/etc/cinder/cinder.conf"]},
              "secretMounts": [],
              "config": {"worker": {"restart": "never"},
                         "readiness": {"policy": "any"},
                         "backends": [{"name": "local", "driver": "posix", "path": "/data", "write_probe": True},
                                      {"name": "objects", "driver": "s3", "endpoint": "http://127.0.0.1:9",
                                       "bucket": "backups", "path_style": True}]}}
    docs, spec = process_pod(values, tmp_path=tmp_path)
    text, _ = gate_config(docs)
    init = named(spec["initContainers"], "backup-gate-install")
    worker = named(spec["containers"], "worker")

    (tmp_path / "worker.go").write_text(WORKER_GO)
    foreign = tmp_path / "foreign"
    for d in ["bin", "data", "run/backup-gate", "etc/backup-gate/config"]:
        (foreign / d).mkdir(parents=True)
        os.chown(foreign / d, 1000, 1000)
    subprocess.run([go, "build", "-o", str(foreign / "bin" / "cinder-backup"), "worker.go"], cwd=tmp_path,
                   env={**os.environ, "CGO_ENABLED": "0"}, check=True, capture_output=True, timeout=300)
    (foreign / "etc/backup-gate/config/gate.yaml").write_text(text)
    bindir, libdir, gate = tmp_path / "image-bin", tmp_path / "image-lib", tmp_path / "gate"
    bindir.mkdir()
    (libdir / "backup-gate").mkdir(parents=True)
    gate.mkdir(mode=0o777)
    os.chmod(gate, 0o777)  # an emptyDir
    shutil.copy(binary, bindir / "backup-gate")
    shutil.copy(module, libdir / "backup-gate" / MODULE_NAME)
    (tmp_path / "init.sh").write_text(init["command"][2])
    os.chmod(tmp_path, 0o755)

    proc = subprocess.run([unshare, "--mount", "--net", "sh", "-c", CONTAINERS_SH, "containers",
                           tmp_path / "image", foreign, gate, bindir, libdir, tmp_path / "init.sh",
                           *worker["command"], *worker["args"]],
                          capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "backup-gate 0.1.0" in proc.stdout, out  # the init container's own check
    assert 'worker argv=--config-file /etc/cinder/cinder.conf ld_library_path=""' in proc.stdout, out
    assert "exit=7" in proc.stdout, out  # restart: never: backup-gate leaves with the worker's status
    assert '"event":"worker_started"' in proc.stderr, out
    assert (gate / "lib" / MODULE_NAME).is_file(), sorted(os.listdir(gate / "lib"))
    assert sorted(os.listdir(foreign)) == ["bin", "data", "dev", "etc", "gate", "proc", "run"]
    assert (foreign / "run/backup-gate/state.json").exists()


# --- monitoring --------------------------------------------------------------

def test_monitoring_is_opt_in():
    for values in CI_VALUES:
        if values.name == "monitoring-on-values.yaml":
            continue
        docs = render([values])
        assert not [d for d in docs if d["apiVersion"].startswith("monitoring.coreos.com/")], values.name
        assert not [d for d in kinds(docs, "ConfigMap") if d["metadata"]["name"].endswith("-dashboards")]


def test_service_monitor_scrapes_the_service():
    docs = render([ci("monitoring-on")])
    sm = one(docs, "ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["name"] and sm["metadata"]["namespace"] == NAMESPACE
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    service = one(docs, "Service")
    assert sm["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert NAMESPACE in sm["spec"]["namespaceSelector"]["matchNames"]
    port_names = {p["name"] for p in service["spec"]["ports"]}
    assert sm["spec"]["endpoints"], "no endpoints"
    for endpoint in sm["spec"]["endpoints"]:
        assert endpoint["port"] in port_names
        assert endpoint["path"] == "/metrics"
        assert re.fullmatch(r"[0-9]+[smh]", endpoint["interval"])


def test_service_monitor_needs_the_service():
    err = render_error([ci("monitoring-on")], ["service.enabled=false"])
    assert "serviceMonitor.enabled needs service.enabled" in err


def prometheus_rule(docs):
    rule = one(docs, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["name"] and rule["metadata"]["namespace"] == NAMESPACE
    groups = rule["spec"]["groups"]
    assert isinstance(groups, list) and groups
    for group in groups:
        assert group["name"] and group["rules"]
        for r in group["rules"]:
            assert ("alert" in r) != ("record" in r) and r["expr"]
    return rule


def test_prometheus_rule_passes_promtool(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        _missing("promtool")
    rule = prometheus_rule(render([ci("monitoring-on")]))
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"SUCCESS: [1-9][0-9]* rules found", proc.stdout + proc.stderr)


def test_alerts_select_the_job_the_service_monitor_creates():
    docs = render([ci("monitoring-on")])
    rule = prometheus_rule(docs)
    job = one(docs, "Service")["metadata"]["name"]  # the Prometheus Operator's default job label
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert alerts
    for alert in alerts:
        assert f'job="{job}"' in alert["expr"], alert["alert"]
        assert f'namespace="{NAMESPACE}"' in alert["expr"], alert["alert"]
        assert alert["labels"]["severity"] and alert["labels"]["team"] == "storage"
        for key in ("summary", "description", "runbook_url"):
            assert alert["annotations"].get(key), (alert["alert"], key)


def test_alert_settings_reach_the_rules():
    docs = render([ci("monitoring-on")], ["alerts.backendDown.for=3m", "alerts.disabled.BackupGateAbsent=true"])
    alerts = {r["alert"]: r for g in prometheus_rule(docs)["spec"]["groups"] for r in g["rules"] if "alert" in r}
    assert alerts["BackupGateBackendDown"]["for"] == "3m"
    assert "BackupGateAbsent" not in alerts


def dashboards_configmap(docs):
    found = [d for d in kinds(docs, "ConfigMap") if d["metadata"]["name"] == f"{FULLNAME}-dashboards"]
    assert len(found) <= 1
    return found[0] if found else None


def test_dashboards_configmap_carries_every_json_file(tmp_path):
    # A copy of the chart with one more dashboard proves that the ConfigMap
    # follows the files, whatever dashboards/ holds today.
    chart = tmp_path / "backup-gate"
    shutil.copytree(CHART, chart)
    (chart / "dashboards").mkdir(exist_ok=True)
    extra = {"title": "extra", "panels": [], "uid": "extra-test"}
    (chart / "dashboards" / "zz-extra-test.json").write_text(json.dumps(extra, indent=2))
    (chart / "dashboards" / "notes.txt").write_text("not a dashboard")
    files = sorted((chart / "dashboards").glob("*.json"))

    cm = dashboards_configmap(render([ci("monitoring-on")], chart=chart))
    assert cm is not None
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Backups"}
    assert sorted(cm["data"]) == [f.name for f in files]
    for f in files:
        assert json.loads(cm["data"][f.name]) == json.loads(f.read_text()), f.name

    cm = dashboards_configmap(render([ci("monitoring-on")], ["dashboards.label=my_label",
                                                             "dashboards.labelValue=yes"], chart=chart))
    assert cm["metadata"]["labels"]["my_label"] == "yes" and "grafana_dashboard" not in cm["metadata"]["labels"]


def test_dashboards_of_the_chart():
    files = sorted((CHART / "dashboards").glob("*.json"))
    cm = dashboards_configmap(render([ci("monitoring-on")]))
    if not files:
        assert cm is None
        return
    assert sorted(cm["data"]) == [f.name for f in files]
    for f in files:
        json.loads(cm["data"][f.name])


# --- values schema -----------------------------------------------------------

TYPOS = [
    ({"replica": 2}, "replica"),
    ({"sidecar": {"mod": "native"}}, "mod"),
    ({"sidecar": {"probes": {"readiness": {"periodSecond": 5}}}}, "periodSecond"),
    ({"worker": {"imag": {"repository": "x"}}}, "imag"),
    ({"config": {"chek": {"interval": "1s"}}}, "chek"),
    ({"config": {"check": {"timout": "1s"}}}, "timout"),
    ({"secretMounts": [{"secretName": "s", "mountPath": "/s", "itmes": []}]}, "itmes"),
    ({"serviceMonitor": {"intervall": "1m"}}, "intervall"),
    ({"dashboards": {"lable": "x"}}, "lable"),
    ({"alerts": {"backendDown": {"fro": "1m"}}}, "fro"),
    ({"config": {"worker": {"stop_afte": "1m"}}}, "stop_afte"),
    ({"config": {"worker": {"restart_backoff": {"maximum": "1m"}}}}, "maximum"),
    ({"binVolume": {"size": "1Gi"}}, "size"),
]


@pytest.mark.parametrize("typo,key", TYPOS, ids=[k for _, k in TYPOS])
def test_schema_rejects_typos(typo, key, tmp_path):
    err = render_error([ci("posix"), write_values(tmp_path, typo)])
    assert "values don't meet the specifications of the schema" in err
    assert re.search(r"Additional property %s is not allowed" % re.escape(key), err), err


@pytest.mark.parametrize("bad", [
    {"sidecar": {"mode": "native-ish"}},
    {"config": {"check": {"timeout": "10q"}}},
    {"config": {"backends": [{"name": "Bad Name", "driver": "posix", "path": "/x"}]}},
    {"config": {"backends": [{"name": "a", "driver": "nfs", "path": "/x"}]}},
    {"worker": {"image": {"tag": 2024.1}}},
    {"worker": {"gate": "wrapper"}},
    {"config": {"worker": {"restart": "sometimes"}}},
    {"config": {"worker": {"stop_signal": "SIGKILL"}}},
    {"config": {"worker": {"stop_after": "2 minutes"}}},
], ids=["mode", "duration", "backend-name", "driver", "numeric-tag", "gate", "restart", "stop-signal",
        "stop-after"])
def test_schema_rejects_bad_values(bad, tmp_path):
    err = render_error([ci("posix"), write_values(tmp_path, bad)])
    assert "values don't meet the specifications of the schema" in err


def test_values_yaml_documents_every_value():
    """Every key of values.yaml has a comment right above it, unless it lies
    inside a value documented as a whole (a key whose comment starts with "# --")."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented = []
    ancestors = []  # (indent, documented as a whole)
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)([A-Za-z_][A-Za-z0-9_]*):", line)
        if not m:
            continue
        indent = len(m.group(1))
        while ancestors and ancestors[-1][0] >= indent:
            ancestors.pop()
        comment = []
        j = i - 1
        while j >= 0 and lines[j].strip().startswith("#"):
            comment.insert(0, lines[j].strip())
            j -= 1
        covered = any(whole for _, whole in ancestors)
        following = next((l for l in lines[i + 1:] if l.strip() and not l.strip().startswith("#")), "")
        section = line.rstrip().endswith(":") and len(following) - len(following.lstrip()) > indent
        if not comment and not covered and not section:
            undocumented.append(line.strip())
        ancestors.append((indent, covered or (bool(comment) and comment[0].startswith("# --"))))
    assert not undocumented, undocumented


def test_readme_documents_every_value():
    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    missing = []

    def walk(node, prefix):
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict) and value and key not in ("resources", "securityContext",
                                                                 "podSecurityContext"):
                walk(value, path + ".")
            elif f"`{path}`" not in readme:
                missing.append(path)

    walk(copy.deepcopy(values), "")
    assert not missing, missing
