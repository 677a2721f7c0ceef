"""pytest fixtures for the real storage peers (load with
`pytest_plugins = ["peers.fixtures"]`).

Servers are session-scoped: each starts once per run, on first use, and is
stopped at the end of the run with its temporary directory. The
function-scoped wrappers (`swift`, `azurite`) make sure a test that stopped
a server leaves it running for the next one.
"""

import secrets
import shutil
import tempfile

import pytest

from . import azurite as azurite_mod
from . import netfaults, procs, swift as swift_mod
from .tlsmaterial import TlsMaterial


@pytest.fixture(scope="session")
def peers_dir():
    """A temporary directory for all peers, removed at the end of the run."""
    path = tempfile.mkdtemp(prefix="bgate-peers-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def tls_material(peers_dir):
    procs.require_commands("TLS material", ["openssl"], "apt-get install openssl")
    return TlsMaterial(f"{peers_dir}/tls")


@pytest.fixture(scope="session")
def swift_aio(peers_dir, tls_material):
    """Swift all-in-one with tempauth and s3api; `tls_url` is a second proxy
    with the test CA's server certificate."""
    procs.require_commands("Swift all-in-one", swift_mod.COMMANDS, swift_mod.INSTALL_HINT)
    server = swift_mod.SwiftAllInOne(f"{peers_dir}/swift", tls_cert=tls_material.server_cert,
                                     tls_key=tls_material.server_key)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def swift(swift_aio):
    swift_aio.start_proxy()
    yield swift_aio
    swift_aio.start_proxy()


@pytest.fixture(scope="session")
def azurite_server(peers_dir):
    procs.require_commands("Azurite", azurite_mod.COMMANDS, azurite_mod.INSTALL_HINT)
    server = azurite_mod.Azurite(f"{peers_dir}/azurite")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def azurite(azurite_server):
    azurite_server.start()
    yield azurite_server
    azurite_server.start()


@pytest.fixture(scope="session")
def azurite_tls(azurite_server, tls_material):
    """A TLS front (the test CA's server certificate) for Azurite; its
    `url` is https://127.0.0.1:PORT."""
    forwarder = netfaults.TlsForwarder(azurite_server.port, tls_material.server_cert,
                                       tls_material.server_key)
    yield forwarder
    forwarder.stop()


@pytest.fixture
def tls_forwarder():
    """Makes TLS fronts with any certificate (expired, client certificates
    required, ...) in front of a plain port; stopped after the test."""
    made = []

    def make(target_port, cert, key, client_ca=None):
        forwarder = netfaults.TlsForwarder(target_port, cert, key, client_ca=client_ca)
        made.append(forwarder)
        return forwarder

    yield make
    for forwarder in made:
        forwarder.stop()


@pytest.fixture(scope="session")
def blackhole():
    hole = netfaults.Blackhole()
    yield hole
    hole.stop()


@pytest.fixture(scope="session")
def refused_port():
    port = netfaults.RefusedPort()
    yield port
    port.stop()


@pytest.fixture
def unique_name():
    """A fresh bucket/container name per call: `unique_name("ready")`."""
    def make(stem="t"):
        return f"bg-{stem}-{secrets.token_hex(4)}"[:63]
    return make
