"""Azurite, the Azure Blob emulator, on 127.0.0.1, with Shared Key and SAS
signing written against the standard library."""

import base64
import datetime
import email.utils
import hashlib
import hmac
import http.client
import os
import pathlib
import secrets
import urllib.parse
import xml.etree.ElementTree as ET

from . import procs

COMMANDS = ["azurite-blob"]
INSTALL_HINT = "bash scripts/peers-deps.sh (npm install -g azurite)"

# Azure's published development-storage account (not a secret anywhere).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
               "K1SZFPTOtr/KBHBeksoGMGw==")
API_VERSION = "2021-08-06"


class AzureError(RuntimeError):
    pass


def shared_key_authorization(account, key, method, path, query, headers):
    """The `Authorization` value of a Shared Key request. `path` is the URL
    path as sent (path-style: it starts with /<account>); `headers` must
    already hold x-ms-date and x-ms-version."""
    lower = {k.lower(): str(v) for k, v in headers.items()}
    length = lower.get("content-length", "")
    standard = [method, lower.get("content-encoding", ""), lower.get("content-language", ""),
                "" if length == "0" else length, lower.get("content-md5", ""),
                lower.get("content-type", ""), lower.get("date", ""),
                lower.get("if-modified-since", ""), lower.get("if-match", ""),
                lower.get("if-none-match", ""), lower.get("if-unmodified-since", ""),
                lower.get("range", "")]
    ms_headers = "".join(f"{k}:{lower[k].strip()}\n"
                         for k in sorted(lower) if k.startswith("x-ms-"))
    resource = f"/{account}{path}"
    for name in sorted({k.lower() for k in query}):
        values = sorted(str(v) for k, v in query.items() if k.lower() == name)
        resource += f"\n{name}:{','.join(values)}"
    string_to_sign = "\n".join(standard) + "\n" + ms_headers + resource
    digest = hmac.new(base64.b64decode(key), string_to_sign.encode("utf-8"),
                      hashlib.sha256).digest()
    return f"SharedKey {account}:{base64.b64encode(digest).decode()}"


def account_sas(account, key, permissions, expiry=None, start=None,
                services="b", resource_types="sco", version=API_VERSION):
    """An account SAS query string (without '?'), e.g. permissions "rl" for
    read and list only."""
    expiry = expiry or (datetime.datetime.now(datetime.timezone.utc)
                        + datetime.timedelta(hours=2))
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    st = start.strftime(fmt) if start else ""
    se = expiry.strftime(fmt)
    fields = [account, permissions, services, resource_types, st, se, "", "", version]
    if version >= "2020-12-06":
        fields.append("")  # encryption scope
    string_to_sign = "\n".join(fields) + "\n"
    sig = base64.b64encode(hmac.new(base64.b64decode(key), string_to_sign.encode("utf-8"),
                                    hashlib.sha256).digest()).decode()
    query = {"sv": version, "ss": services, "srt": resource_types, "sp": permissions,
             "se": se, "sig": sig}
    if st:
        query["st"] = st
    return urllib.parse.urlencode(query)


class Azurite:
    """azurite-blob in memory on a free port.

    Accounts: `devstoreaccount1` with its published key, and a second
    account `other_account` with a random key (a valid key of another
    account is an `auth` failure for the first). Path-style endpoints:
    `endpoint` is http://127.0.0.1:PORT/devstoreaccount1."""

    def __init__(self, workdir):
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = procs.free_port()
        self.account = ACCOUNT
        self.key = ACCOUNT_KEY
        self.other_account = "gateother"
        self.other_key = base64.b64encode(secrets.token_bytes(64)).decode()
        self._proc = None
        self._containers = set()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self):
        """The account's blob endpoint (path-style)."""
        return f"{self.url}/{self.account}"

    def endpoint_for(self, base_url, account=None):
        return f"{base_url}/{account or self.account}"

    # -- life cycle --------------------------------------------------------

    def start(self):
        if self._proc is not None and self._proc.alive():
            return self
        env = dict(os.environ)
        env["AZURITE_ACCOUNTS"] = (f"{self.account}:{self.key};"
                                   f"{self.other_account}:{self.other_key}")
        self._proc = procs.ManagedProcess(
            ["azurite-blob", "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
             "--inMemoryPersistence", "--disableTelemetry", "--silent",
             "--skipApiVersionCheck",
             # Path-style whatever the host name (else a name such as
             # a.b.test is read as account "a").
             "--disableProductStyleUrl"],
            self.dir / "azurite.log", env=env, cwd=self.dir)
        try:
            procs.wait_until(self._answers, 30, "azurite", diagnostics=self.log_tail)
            # In memory: a restart forgets everything, so put back what the
            # tests made.
            for name in sorted(self._containers):
                self.create_container(name)
        except BaseException:
            self.stop()
            raise
        return self

    def _answers(self):
        if not self._proc.alive():
            raise AzureError(f"azurite exited {self._proc.proc.returncode}")
        status, _, _ = self.request("GET", "", query={"comp": "list"})
        return status == 200

    def stop(self):
        """Stops the server; its port then refuses connections."""
        if self._proc is not None:
            self._proc.stop()
        procs.wait_until(lambda: not procs.port_accepts(self.port), 10, "azurite port closed")

    def restart(self):
        """Stops and starts again on the same port; the containers made
        through this object are made again (the store is in memory)."""
        self.stop()
        self.start()

    def log_tail(self):
        return self._proc.log_tail() if self._proc else ""

    # -- Blob API helpers --------------------------------------------------

    def request(self, method, path, query=None, headers=None, body=b"", account=None,
                key=None, sas=None, timeout=10):
        """A Shared Key request (or a SAS one with `sas`) to the plain port.
        `path` is relative to the account ("container/blob"). Returns
        (status, headers with lower-case names, body)."""
        account = account or self.account
        key = key or self.key
        url_path = f"/{account}/" + urllib.parse.quote(path, safe="/")
        query = dict(query or {})
        all_headers = {"x-ms-date": email.utils.formatdate(usegmt=True),
                       "x-ms-version": API_VERSION, "Content-Length": str(len(body)),
                       **(headers or {})}
        if sas is None:
            all_headers["Authorization"] = shared_key_authorization(
                account, key, method, url_path, query, all_headers)
        query_text = urllib.parse.urlencode(query)
        if sas is not None:
            query_text = "&".join(x for x in (query_text, sas) if x)
        target = url_path + ("?" + query_text if query_text else "")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, target, body=body, headers=all_headers)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def _ok(self, result, what, ok):
        status, headers, body = result
        if status not in ok:
            code = headers.get("x-ms-error-code", "")
            raise AzureError(f"{what}: {status} {code} {body[:300]!r}")
        return result

    def create_container(self, name, account=None, key=None):
        """Creates a container (201, or 409 if it exists)."""
        self._ok(self.request("PUT", name, query={"restype": "container"},
                              account=account, key=key),
                 f"create container {name}", (201, 409))
        if account in (None, self.account):
            self._containers.add(name)

    def delete_container(self, name, account=None, key=None):
        self._ok(self.request("DELETE", name, query={"restype": "container"},
                              account=account, key=key),
                 f"delete container {name}", (202, 404))
        if account in (None, self.account):
            self._containers.discard(name)

    def put_blob(self, container, blob, data=b"", account=None, key=None):
        self._ok(self.request("PUT", f"{container}/{blob}", body=data,
                              headers={"x-ms-blob-type": "BlockBlob"},
                              account=account, key=key),
                 f"put blob {container}/{blob}", (201,))

    def list_blobs(self, container, account=None, key=None):
        _, _, body = self._ok(
            self.request("GET", container, query={"restype": "container", "comp": "list"},
                         account=account, key=key),
            f"list {container}", (200,))
        root = ET.fromstring(body)
        return [e.text for e in root.iter("Name")]

    def sas(self, permissions, account=None, key=None, **kw):
        """An account SAS for the blob service: "rl" reads and lists only,
        "racwdl" does everything the driver needs."""
        return account_sas(account or self.account, key or self.key, permissions, **kw)
