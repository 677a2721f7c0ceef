"""Config and credential files that are not what they should be: a
directory, unreadable, empty, 100 MB, not UTF-8, a FIFO, a symlink loop.

A bad config stops `validate` and `check` with exit 2 and one error line
naming the path, quickly and without a crash. A bad credential file makes its
backend `misconfigured`, with a detail naming the path and the reason and
never the file's contents."""

import atexit
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import BINARY

KINDS = ["directory", "unreadable", "empty", "huge", "not_utf8", "fifo", "symlink_loop"]
# Bytes that must never show up in any output.
CANARY = "CANARY7f3a9c"
NOBODY = 65534
SETPRIV = shutil.which("setpriv")
LIMIT = 5.0  # seconds any of these commands may take


@pytest.fixture
def world_dir():
    """A directory an unprivileged user can traverse (pytest's tmp_path sits
    under a 0700 directory)."""
    path = tempfile.mkdtemp(prefix="bgate-bad-files-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def as_unprivileged():
    """The prefix that runs a command as an unprivileged user, [] when this
    process is one already; skips when that cannot be done."""
    if os.geteuid() != 0:
        return []
    if SETPRIV is None:
        pytest.skip("running as root, where chmod 000 still reads, and setpriv "
                    "is not installed to drop privileges")
    return [SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def make_bad(kind, directory, name, content):
    """Creates a bad file of `kind`; returns (path, command prefix)."""
    path = os.path.join(directory, name)
    prefix = []
    if kind == "directory":
        os.mkdir(path)
        with open(os.path.join(path, CANARY), "w") as f:
            f.write(CANARY)
    elif kind == "unreadable":
        with open(path, "wb") as f:
            f.write(content)
        os.chmod(path, 0)
        prefix = as_unprivileged()
    elif kind == "empty":
        open(path, "wb").close()
    elif kind == "huge":
        # 100 MB, sparse after the content at its start.
        with open(path, "wb") as f:
            f.write(content)
            f.truncate(100 * 1000 * 1000)
    elif kind == "not_utf8":
        with open(path, "wb") as f:
            f.write(b"\xff\xfe" + content + b"\xc3\x28\x80\n")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink_loop":
        os.symlink(path + ".other", path)
        os.symlink(path, path + ".other")
    else:
        raise AssertionError(kind)
    return path, prefix


_UNPRIVILEGED_COPY = []


def unprivileged_binary():
    """The binary as an unprivileged user can run it: a copy, with its
    object-store module in the same layout (bin/, lib/backup-gate/), in a
    directory anyone can traverse; the build tree may sit below a 0700
    directory (a fresh clone in mktemp -d), where the module cannot be
    loaded. Made once per run."""
    if not _UNPRIVILEGED_COPY:
        root = tempfile.mkdtemp(prefix="bgate-unprivileged-")
        atexit.register(shutil.rmtree, root, True)
        os.chmod(root, 0o755)
        os.makedirs(os.path.join(root, "bin"))
        shutil.copy2(BINARY, os.path.join(root, "bin", "backup-gate"))
        module_dir = pathlib.Path(BINARY).resolve().parent.parent / "lib" / "backup-gate"
        if module_dir.is_dir():
            shutil.copytree(module_dir, os.path.join(root, "lib", "backup-gate"))
            os.chmod(os.path.join(root, "lib"), 0o755)
        _UNPRIVILEGED_COPY.append(os.path.join(root, "bin", "backup-gate"))
    return _UNPRIVILEGED_COPY[0]


def run(prefix, args, cwd):
    """Runs the binary under a hard time limit: a hang fails, not blocks."""
    binary = unprivileged_binary() if prefix else str(BINARY)
    start = time.monotonic()
    try:
        proc = subprocess.run(prefix + [binary] + args, cwd=cwd,
                              capture_output=True, timeout=LIMIT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{args} still running after {LIMIT} s")
    took = time.monotonic() - start
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    # A negative return code is a signal: a crash, an abort, a kill.
    assert proc.returncode >= 0, f"killed by signal {-proc.returncode}:\n{err}"
    assert took < LIMIT
    return proc.returncode, out, err


def write_world_readable(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)


# --- config files ----------------------------------------------------------

CONFIG_REASON = {
    "directory": "not a regular file",
    "unreadable": "Permission denied",
    "empty": "empty",
    "huge": "larger than 1048576 bytes",
    "not_utf8": "not valid UTF-8",
    "fifo": "not a regular file",
    "symlink_loop": "Too many levels of symbolic links",
}

VALID_CONFIG = b"""backends:
  - name: primary
    driver: posix
    path: /tmp
# """ + CANARY.encode() + b"\n"


def assert_one_line_error(err, path, reason):
    lines = [line for line in err.splitlines() if line.strip()]
    # A header line naming the file, and one error line naming it and the
    # reason; nothing else (no dump, no backtrace).
    assert len(lines) == 2, err
    assert lines[0].startswith("backup-gate: invalid configuration (1 error) in ") \
        and lines[0].endswith(f"{path}:"), err
    assert path in lines[1] and reason in lines[1], err


@pytest.mark.parametrize("command", ["validate", "check"])
@pytest.mark.parametrize("kind", KINDS)
def test_bad_config_file_exits_2_naming_it(kind, command, world_dir):
    path, prefix = make_bad(kind, world_dir, "gate.yaml", VALID_CONFIG)
    code, out, err = run(prefix, [command, "--config", path], world_dir)
    assert code == 2, (code, out, err)
    assert out == ""
    assert_one_line_error(err, path, CONFIG_REASON[kind])
    assert CANARY not in out + err


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


@pytest.mark.parametrize("command", ["validate", "check"])
def test_config_with_a_10mb_line_exits_2(command, tmp_path):
    path = write_bytes(tmp_path / "line.yaml",
                       b"backends: [" + b"x" * (10 * 1000 * 1000) + b"]\n")
    code, out, err = run([], [command, "--config", path], tmp_path)
    assert code == 2, (code, err[:500])
    assert_one_line_error(err, path, "larger than 1048576 bytes")


DEEP = {
    "open_brackets": b"[" * 100_000,
    "balanced_brackets": b"backends: " + b"[" * 100_000 + b"]" * 100_000 + b"\n",
    "open_braces": b"{a: " * 100_000,
    "block_mappings": b"".join(b" " * i + b"a:\n" for i in range(1400)),
}


@pytest.mark.parametrize("command", ["validate", "check"])
@pytest.mark.parametrize("shape", sorted(DEEP))
def test_deeply_nested_config_exits_2(shape, command, tmp_path):
    data = DEEP[shape]
    assert len(data) < 1024 * 1024  # under the size limit: the parser sees it
    path = write_bytes(tmp_path / "deep.yaml", data)
    code, out, err = run([], [command, "--config", path], tmp_path)
    assert code == 2, (code, err[:500])
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) <= 2 and "invalid YAML" in lines[-1], err[:500]


# --- credential files ------------------------------------------------------

CREDENTIAL_REASON = {
    "directory": "not a regular file",
    "unreadable": "Permission denied",
    "empty": "is empty",
    "huge": "larger than 64 KiB",
    "fifo": "not a regular file",
    "symlink_loop": "Too many levels of symbolic links",
    # Each driver names the problem in its own words.
    "not_utf8": "",
}

# Which credential of which driver points at the bad file.
TARGETS = ["s3_access_key_id", "s3_secret_access_key", "swift_tempauth",
           "swift_keystone", "azure_account_key"]


def credential_config(directory, target, bad):
    good_id = write_secret(directory, "good-id", "AKIAIOSFODNN7EXAMPLE")
    good_secret = write_secret(directory, "good-secret",
                               "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    common = "check: {timeout: 2s}\nbackends:\n"
    if target.startswith("s3_"):
        id_file = bad if target == "s3_access_key_id" else good_id
        secret_file = bad if target == "s3_secret_access_key" else good_secret
        return common + f"""  - name: store
    driver: s3
    endpoint: http://127.0.0.1:1
    bucket: backups
    path_style: true
    access_key_id_file: {id_file}
    secret_access_key_file: {secret_file}
"""
    if target == "swift_tempauth":
        return common + f"""  - name: store
    driver: swift
    auth_url: http://127.0.0.1:1/auth/v1.0
    auth_version: 1
    username: "test:tester"
    password_file: {bad}
    container: backups
"""
    if target == "swift_keystone":
        return common + f"""  - name: store
    driver: swift
    auth_url: http://127.0.0.1:1/v3
    username: backup
    project_name: backups
    password_file: {bad}
    container: backups
"""
    assert target == "azure_account_key"
    return common + f"""  - name: store
    driver: azure_blob
    account: devstoreaccount1
    endpoint: http://127.0.0.1:1/devstoreaccount1
    container: backups
    account_key_file: {bad}
"""


def write_secret(directory, name, text):
    path = os.path.join(directory, name)
    write_world_readable(path, text + "\n")
    return path


def check_credential(kind, target, world_dir):
    # Looks like a credential of each kind (base64 for Azure) and carries
    # the canary, so that a leak of the contents is caught.
    content = (CANARY + "A" * 28 + "==").encode()
    bad, prefix = make_bad(kind, world_dir, "credential", content)
    config = os.path.join(world_dir, "gate.yaml")
    write_world_readable(config, credential_config(world_dir, target, bad))
    code, out, err = run(prefix, ["check", "--config", config, "--output", "json"],
                         world_dir)
    assert CANARY not in out + err, out + err
    assert code == 1, (code, out, err)
    report = json.loads(out)
    assert report["ready"] is False
    [backend] = report["backends"]
    assert backend["result"] == "failed", backend
    return bad, backend


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("kind", [k for k in KINDS if k != "not_utf8"])
def test_bad_credential_file_is_misconfigured(kind, target, world_dir):
    bad, backend = check_credential(kind, target, world_dir)
    assert backend["reason"] == "misconfigured", backend
    assert bad in backend["detail"], backend
    assert CREDENTIAL_REASON[kind] in backend["detail"], backend


@pytest.mark.parametrize("target", TARGETS)
def test_non_utf8_credential_file_never_leaks(target, world_dir):
    """Whatever the verdict, the bytes stay out of every output and the
    backend is not ready."""
    check_credential("not_utf8", target, world_dir)


# Regression: these bytes used to go into the Authorization header (or be
# used as the HMAC key or password) as they were.
@pytest.mark.parametrize("target", [
    "s3_access_key_id",
    "s3_secret_access_key",
    "swift_tempauth",
    "swift_keystone",
    "azure_account_key",
])
def test_non_utf8_credential_file_is_misconfigured(target, world_dir):
    bad, backend = check_credential("not_utf8", target, world_dir)
    assert backend["reason"] == "misconfigured", backend
    assert bad in backend["detail"], backend
