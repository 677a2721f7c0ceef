"""The azure_blob driver against Azurite (Shared Key and SAS checked),
started once per run (peers.azurite); TLS through a TLS front."""

import urllib.parse

import pytest

from peers import gatekit as gk

NAME = "objects"


@pytest.fixture
def container(azurite, unique_name):
    name = unique_name("az")
    azurite.create_container(name)
    azurite.put_blob(name, "gate/existing-backup", b"backup")
    yield name
    azurite.delete_container(name)


def azure(azurite, tmp_path, container, key=None, sas=None, endpoint=None, name=NAME,
          **keys):
    """An azure_blob backend on Azurite: a Shared Key file, or a SAS file."""
    backend = {"name": name, "driver": "azure_blob", "account": azurite.account,
               "container": container, "prefix": "gate/",
               "endpoint": endpoint or azurite.endpoint, "write_probe": True}
    if sas is not None:
        backend["sas_token_file"] = gk.write_secret(tmp_path / f"{name}-sas", sas)
    else:
        backend["account_key_file"] = gk.write_secret(
            tmp_path / f"{name}-account-key", key if key is not None else azurite.key)
    backend.update(keys)
    return backend


def test_ready_with_write_probe(azurite, container, tmp_path):
    run = gk.check(gk.one_shot(azure(azurite, tmp_path, container)), tmp_path)
    row = gk.expect(run, "ready")
    assert row["driver"] == "azure_blob" and row["name"] == NAME
    assert azurite.list_blobs(container) == ["gate/existing-backup"]


def test_ready_with_sas_token(azurite, container, tmp_path):
    backend = azure(azurite, tmp_path, container, sas=azurite.sas("racwdl"))
    gk.expect(gk.check(gk.one_shot(backend), tmp_path), "ready")
    assert azurite.list_blobs(container) == ["gate/existing-backup"]


@pytest.mark.parametrize("which", ["wrong key", "forged sas"])
def test_wrong_credentials_are_auth(azurite, container, tmp_path, which):
    if which == "wrong key":
        # A well-formed key, but another account's: Azurite answers 403
        # AuthorizationFailure (Azure itself says AuthenticationFailed).
        backend = azure(azurite, tmp_path, container, key=azurite.other_key)
    else:
        sas = azurite.sas("racwdl", key=azurite.other_key)
        backend = azure(azurite, tmp_path, container, sas=sas)
    gk.expect(gk.check(gk.one_shot(backend), tmp_path), "failed", "auth")


def test_missing_container_is_not_found(azurite, tmp_path, unique_name):
    backend = azure(azurite, tmp_path, unique_name("missing"))
    gk.expect(gk.check(gk.one_shot(backend), tmp_path), "failed", "not_found")


@pytest.mark.parametrize("permissions", ["r", "rl"])
def test_no_permission(azurite, container, tmp_path, permissions):
    # A valid SAS that does not allow what the check does: without `l` the
    # listing, with `rl` the write probe's PUT answers 403
    # AuthorizationPermissionMismatch.
    backend = azure(azurite, tmp_path, container, sas=azurite.sas(permissions))
    gk.expect(gk.check(gk.one_shot(backend), tmp_path), "failed", "permission")


def test_server_stopped_while_ready_then_restarted(azurite, container, tmp_path, gate):
    cfg = gk.config(azure(azurite, tmp_path, container))
    gk.outage_and_recovery(gate, cfg, NAME, azurite.stop, azurite.start)


def unreachable_backend(tmp_path, base_url, **keys):
    return {"name": NAME, "driver": "azure_blob", "account": "devstoreaccount1",
            "container": "nowhere", "endpoint": f"{base_url}/devstoreaccount1",
            "account_key_file": gk.write_secret(tmp_path / "key", "aXJyZWxldmFudA=="),
            "write_probe": True, **keys}


@pytest.mark.parametrize("case", gk.UNREACHABLE_CASES)
def test_unreachable(case, blackhole, refused_port, tmp_path, tls_material):
    gk.unreachable_case(case, lambda url, **keys: unreachable_backend(tmp_path, url, **keys),
                        tmp_path, blackhole, refused_port, tls_material)


def test_blackhole_keeps_probe_fast_and_threads_bounded(blackhole, tmp_path, gate):
    gk.blackhole_stays_bounded(gate, gk.config(unreachable_backend(tmp_path, blackhole.url)),
                               NAME, blackhole)


@pytest.mark.parametrize("case", gk.TLS_CASES)
def test_tls(case, azurite, azurite_tls, container, tmp_path, tls_material, tls_forwarder):
    gk.tls_case(case, lambda url, **keys: azure(
        azurite, tmp_path, container, endpoint=azurite.endpoint_for(url), **keys),
        azurite_tls.url, azurite.port, tmp_path, tls_material, tls_forwarder)


def test_rotated_key_file_is_read_without_restart(azurite, container, tmp_path, gate):
    backend = azure(azurite, tmp_path, container, key=azurite.other_key)
    gk.rotation_without_restart(
        gate, gk.config(backend), NAME,
        lambda: gk.write_secret(backend["account_key_file"], azurite.key))


def test_no_secret_in_output_logs_metrics_or_probes(azurite, container, tmp_path, gate):
    good_sas = azurite.sas("racwdl")
    forged_sas = azurite.sas("racwdl", key=azurite.other_key)
    good_key = azure(azurite, tmp_path, container, name="key")
    good_sas_backend = azure(azurite, tmp_path, container, name="sas", sas=good_sas)
    bad_key = azure(azurite, tmp_path, container, name="badkey", key=azurite.other_key)
    bad_sas = azure(azurite, tmp_path, container, name="badsas", sas=forged_sas)
    backends = [good_key, good_sas_backend, bad_key, bad_sas]
    signatures = []
    for sas in (good_sas, forged_sas):
        sig = urllib.parse.parse_qs(sas)["sig"][0]
        signatures += [sig, urllib.parse.quote(sig, safe=""), sas]
    secret_values = [azurite.key, azurite.other_key] + signatures
    texts = {}
    for output in ("json", "text"):
        run = gk.check(gk.one_shot(*backends), tmp_path, output=output)
        assert run.returncode == 1, run.describe()
        texts[f"check {output} stdout"] = run.stdout
        texts[f"check {output} stderr"] = run.stderr
    g = gate(gk.config(*backends), extra_args=["--log-level", "debug"])
    g.wait_status("/readyz/key", 200, limit=20.0)
    g.wait_status("/readyz/sas", 200, limit=20.0)
    gk.wait_reason(g, "badkey", "auth")
    gk.wait_reason(g, "badsas", "auth")
    names = [b["name"] for b in backends]
    texts.update({f"serve {k}": v for k, v in gk.serve_texts(g, names).items()})
    gk.assert_no_leak(texts, secret_values, gk.SIGNATURE_PATTERNS)
