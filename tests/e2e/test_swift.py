"""The swift driver against OpenStack Swift all-in-one with tempauth (auth
version 1), started once per run (peers.swift)."""

import secrets

import pytest

from peers import gatekit as gk

NAME = "objects"


@pytest.fixture
def container(swift, unique_name):
    name = unique_name("swift")
    swift.create_container(name)
    swift.put_object(name, "gate/existing-backup", b"backup")
    yield name
    swift.delete_container(name)


def swift_backend(swift, tmp_path, container, password=None, username=None, auth_url=None,
                  name=NAME, **keys):
    password_file = gk.write_secret(tmp_path / f"{name}-password",
                                    password if password is not None else swift.key)
    backend = {"name": name, "driver": "swift", "auth_url": auth_url or swift.auth_url,
               "auth_version": 1, "username": username or swift.user,
               "password_file": password_file, "container": container, "prefix": "gate/",
               "write_probe": True}
    backend.update(keys)
    return backend


def test_ready_with_write_probe(swift, container, tmp_path):
    run = gk.check(gk.one_shot(swift_backend(swift, tmp_path, container)), tmp_path)
    row = gk.expect(run, "ready")
    assert row["driver"] == "swift" and row["name"] == NAME
    assert swift.list_objects(container) == ["gate/existing-backup"]


@pytest.mark.parametrize("which", ["wrong password", "unknown user"])
def test_wrong_credentials_are_auth(swift, container, tmp_path, which):
    if which == "wrong password":
        backend = swift_backend(swift, tmp_path, container,
                                password="wrong-" + secrets.token_hex(8))
    else:
        backend = swift_backend(swift, tmp_path, container, username="test:nobody")
    gk.expect(gk.check(gk.one_shot(backend), tmp_path), "failed", "auth")


def test_missing_container_is_not_found(swift, tmp_path, unique_name):
    backend = swift_backend(swift, tmp_path, unique_name("missing"))
    gk.expect(gk.check(gk.one_shot(backend), tmp_path), "failed", "not_found")


@pytest.mark.parametrize("grant", ["none", "read only"])
def test_no_permission(swift, container, tmp_path, grant):
    # test:reader gets a token but is no admin of AUTH_test: without an ACL
    # the container listing answers 403; with a read ACL the listing works
    # and the write probe's PUT answers 403.
    if grant == "read only":
        swift.create_container(container, read_acl=swift.reader_user)
    backend = swift_backend(swift, tmp_path, container, username=swift.reader_user,
                            password=swift.reader_key)
    gk.expect(gk.check(gk.one_shot(backend), tmp_path), "failed", "permission")


def test_server_stopped_while_ready_then_restarted(swift, container, tmp_path, gate):
    cfg = gk.config(swift_backend(swift, tmp_path, container))
    gk.outage_and_recovery(gate, cfg, NAME, swift.stop_proxy, swift.start_proxy)


def unreachable_backend(tmp_path, base_url, **keys):
    return {"name": NAME, "driver": "swift", "auth_url": f"{base_url}/auth/v1.0",
            "auth_version": 1, "username": "test:tester",
            "password_file": gk.write_secret(tmp_path / "password", "irrelevant-secret"),
            "container": "nowhere", "write_probe": True, **keys}


@pytest.mark.parametrize("case", gk.UNREACHABLE_CASES)
def test_unreachable(case, blackhole, refused_port, tmp_path, tls_material):
    gk.unreachable_case(case, lambda url, **keys: unreachable_backend(tmp_path, url, **keys),
                        tmp_path, blackhole, refused_port, tls_material)


def test_blackhole_keeps_probe_fast_and_threads_bounded(blackhole, tmp_path, gate):
    gk.blackhole_stays_bounded(gate, gk.config(unreachable_backend(tmp_path, blackhole.url)),
                               NAME, blackhole)


@pytest.mark.parametrize("case", gk.TLS_CASES)
def test_tls(case, swift, container, tmp_path, tls_material, tls_forwarder):
    # Swift's TLS proxy hands out an https storage URL on itself, so every
    # request (auth and storage) goes over TLS.
    gk.tls_case(case, lambda url, **keys: swift_backend(
        swift, tmp_path, container, auth_url=f"{url}/auth/v1.0", **keys),
        swift.tls_url, swift.proxy_port, tmp_path, tls_material, tls_forwarder)


def test_rotated_password_file_is_read_without_restart(swift, container, tmp_path, gate):
    backend = swift_backend(swift, tmp_path, container, password="old-" + secrets.token_hex(8))
    gk.rotation_without_restart(
        gate, gk.config(backend), NAME,
        lambda: gk.write_secret(backend["password_file"], swift.key))


def test_no_secret_in_output_logs_metrics_or_probes(swift, container, tmp_path, gate):
    wrong = "wrong-" + secrets.token_hex(8)
    good = swift_backend(swift, tmp_path, container, name="good")
    bad = swift_backend(swift, tmp_path, container, name="bad", password=wrong)
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
    # tempauth hands the same user the same token while it lives: this is
    # the token the gate holds.
    token, _ = swift.auth()
    gk.assert_no_leak(texts, [swift.key, wrong, token], gk.SIGNATURE_PATTERNS)
