"""The s3 driver against a real S3 API that checks SigV4: OpenStack Swift's
s3api middleware (peers.swift), started once per run."""

import re
import secrets
import shutil
import subprocess

import pytest

from conftest import BINARY
from peers import gatekit as gk

NAME = "objects"


@pytest.fixture
def bucket(swift, unique_name):
    name = unique_name("s3")
    swift.create_bucket(name)
    # Something to list besides the probe's sentinel.
    swift.put_object(name, "gate/existing-backup", b"backup")
    yield name
    swift.delete_bucket(name)


def s3(swift, tmp_path, bucket, secret=None, access=None, endpoint=None, name=NAME,
       **keys):
    """An s3 backend on the Swift proxy, credentials in files."""
    access_file = gk.write_secret(tmp_path / f"{name}-access-key-id",
                                  access if access is not None else swift.s3_access_key)
    secret_file = gk.write_secret(tmp_path / f"{name}-secret-access-key",
                                  secret if secret is not None else swift.s3_secret_key)
    backend = {"name": name, "driver": "s3", "endpoint": endpoint or swift.s3_endpoint,
               "region": swift.region, "bucket": bucket, "prefix": "gate/",
               "path_style": True, "access_key_id_file": access_file,
               "secret_access_key_file": secret_file, "write_probe": True}
    backend.update(keys)
    return backend


def test_ready_with_write_probe(swift, bucket, tmp_path):
    run = gk.check(gk.one_shot(s3(swift, tmp_path, bucket)), tmp_path)
    row = gk.expect(run, "ready")
    assert row["driver"] == "s3" and row["name"] == NAME
    # The probe removes its sentinel.
    assert swift.list_objects(bucket) == ["gate/existing-backup"]


def test_ready_with_credentials_from_environment(swift, bucket, tmp_path):
    backend = s3(swift, tmp_path, bucket)
    del backend["access_key_id_file"], backend["secret_access_key_file"]
    env = {"AWS_ACCESS_KEY_ID": swift.s3_access_key,
           "AWS_SECRET_ACCESS_KEY": swift.s3_secret_key}
    gk.expect(gk.check(gk.one_shot(backend), tmp_path, env=env), "ready")


@pytest.mark.parametrize("which", ["wrong secret", "unknown access key"])
def test_wrong_credentials_are_auth(swift, bucket, tmp_path, which):
    if which == "wrong secret":
        backend = s3(swift, tmp_path, bucket, secret="wrong-" + secrets.token_hex(8))
    else:
        backend = s3(swift, tmp_path, bucket, access="nobody:" + secrets.token_hex(4))
    gk.expect(gk.check(gk.one_shot(backend), tmp_path), "failed", "auth")


def test_missing_bucket_is_not_found(swift, tmp_path, unique_name):
    gk.expect(gk.check(gk.one_shot(s3(swift, tmp_path, unique_name("missing"))), tmp_path),
              "failed", "not_found")


@pytest.mark.parametrize("grant", ["none", "read only"])
def test_no_permission(swift, bucket, tmp_path, grant):
    # test:reader authenticates (its signature is right) but is no admin:
    # without an ACL the listing is refused (403 AccessDenied); with a read
    # ACL the listing works and the write probe's PUT is refused.
    if grant == "read only":
        swift.create_bucket(bucket, read_acl=swift.reader_user)
    backend = s3(swift, tmp_path, bucket, access=swift.reader_user, secret=swift.reader_key)
    gk.expect(gk.check(gk.one_shot(backend), tmp_path), "failed", "permission")


def test_server_stopped_while_ready_then_restarted(swift, bucket, tmp_path, gate):
    cfg = gk.config(s3(swift, tmp_path, bucket))
    gk.outage_and_recovery(gate, cfg, NAME, swift.stop_proxy, swift.start_proxy)


def s3_unreachable(tmp_path, endpoint, **keys):
    return {"name": NAME, "driver": "s3", "endpoint": endpoint, "region": "us-east-1",
            "bucket": "nowhere", "path_style": True,
            "access_key_id_file": gk.write_secret(tmp_path / "ak", "test:tester"),
            "secret_access_key_file": gk.write_secret(tmp_path / "sk", "irrelevant-secret"),
            "write_probe": True, **keys}


@pytest.mark.parametrize("case", gk.UNREACHABLE_CASES)
def test_unreachable(case, blackhole, refused_port, tmp_path, tls_material):
    gk.unreachable_case(case, lambda url, **keys: s3_unreachable(tmp_path, url, **keys),
                        tmp_path, blackhole, refused_port, tls_material)


def test_blackhole_keeps_probe_fast_and_threads_bounded(blackhole, tmp_path, gate):
    gk.blackhole_stays_bounded(gate, gk.config(s3_unreachable(tmp_path, blackhole.url)), NAME,
                               blackhole)


@pytest.mark.parametrize("case", gk.TLS_CASES)
def test_tls(case, swift, bucket, tmp_path, tls_material, tls_forwarder):
    gk.tls_case(case, lambda url, **keys: s3(swift, tmp_path, bucket, endpoint=url, **keys),
                swift.tls_s3_endpoint, swift.proxy_port, tmp_path, tls_material, tls_forwarder)


def test_rotated_secret_file_is_read_without_restart(swift, bucket, tmp_path, gate):
    backend = s3(swift, tmp_path, bucket, secret="old-" + secrets.token_hex(8))
    gk.rotation_without_restart(
        gate, gk.config(backend), NAME,
        lambda: gk.write_secret(backend["secret_access_key_file"], swift.s3_secret_key))


def test_no_secret_in_output_logs_metrics_or_probes(swift, bucket, tmp_path, gate):
    wrong = "wrong-" + secrets.token_hex(8)
    good = s3(swift, tmp_path, bucket, name="good")
    bad = s3(swift, tmp_path, bucket, name="bad", secret=wrong)
    secret_values = [swift.s3_secret_key, wrong]
    texts = {}
    for output in ("json", "text"):
        run = gk.check(gk.one_shot(good, bad), tmp_path, output=output)
        assert run.returncode == 1, run.describe()
        texts[f"check {output} stdout"] = run.stdout
        texts[f"check {output} stderr"] = run.stderr
    g = gate(gk.config(good, bad), extra_args=["--log-level", "debug"])
    g.wait_status("/readyz/good", 200, limit=20.0)
    gk.wait_reason(g, "bad", "auth")
    texts.update({f"serve {k}": v for k, v in gk.serve_texts(g, ["good", "bad"]).items()})
    gk.assert_no_leak(texts, secret_values, gk.SIGNATURE_PATTERNS)


# --- The object-store module: loaded only when a config names an object store

MODULE_LIBRARIES = re.compile(r"/(libbackup-gate-objectstores|libcpprest|libssl|libcrypto|libpugixml)\.so")


def mapped_files(pid):
    with open(f"/proc/{pid}/maps") as maps:
        return {line.split()[-1] for line in maps if "/" in line}


def test_module_and_its_libraries_are_mapped_only_for_object_stores(gate, tmp_path, refused_port):
    store = tmp_path / "store"
    store.mkdir()
    posix = gate(gk.config({"name": "local", "driver": "posix", "path": str(store)}))
    assert not [f for f in mapped_files(posix.proc.pid) if MODULE_LIBRARIES.search(f)]
    objects = gate(gk.config(s3_unreachable(tmp_path, refused_port.url)))
    mapped = {MODULE_LIBRARIES.search(f).group(1) for f in mapped_files(objects.proc.pid)
              if MODULE_LIBRARIES.search(f)}
    assert mapped == {"libbackup-gate-objectstores", "libcpprest", "libssl", "libcrypto", "libpugixml"}


def test_missing_module_is_a_config_error_on_the_driver_field(tmp_path):
    # The binary alone, without the lib/backup-gate/ its rpath points to.
    alone = tmp_path / "bin" / "backup-gate"
    alone.parent.mkdir()
    shutil.copy(BINARY, alone)
    store = tmp_path / "store"
    store.mkdir()
    posix = {"name": "local", "driver": "posix", "path": str(store)}
    config = tmp_path / "gate.yaml"
    config.write_text(gk.config(posix, s3_unreachable(tmp_path, "http://127.0.0.1:9"),
                                {"name": "azure", "driver": "azure_blob", "account": "backupgate", "container": "backups",
                                 "sas_token_file": str(tmp_path / "sas")}))
    for command in (["validate"], ["check"], []):
        r = subprocess.run([str(alone), *command, "--config", str(config)], cwd=tmp_path,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, (command, r.stderr)
        assert "invalid configuration (2 errors)" in r.stderr, r.stderr
        for field, kind in (("backends[1].driver", "s3"), ("backends[2].driver", "azure_blob")):
            assert (f"{field}: {kind} needs libbackup-gate-objectstores.so: libbackup-gate-objectstores.so: "
                    "cannot open shared object file") in r.stderr, r.stderr
    # Without object stores the binary needs nothing beside it.
    config.write_text(gk.config(posix))
    r = subprocess.run([str(alone), "validate", "--config", str(config)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
