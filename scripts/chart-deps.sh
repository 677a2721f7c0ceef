#!/usr/bin/env bash
# Installs what the chart tests (tests/chart/) need, skipping whatever is
# already there: helm, built from source through the Go module proxy;
# kubernetes-validate and PyYAML from PyPI; promtool from Debian's
# `prometheus` package. Prints the path of helm on its last line.
set -euo pipefail

HELM_VERSION=${HELM_VERSION:-v3.16.4}
KUBERNETES_VALIDATE_VERSION=1.37.0
PYYAML_VERSION=6.0.3

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

# Each step says how long it took, so a slow machine is easy to spot.
timed() {
  local what=$1 start=$SECONDS
  shift
  "$@"
  echo "chart-deps: $what took $((SECONDS - start))s" >&2
}

gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
helm="$gobin/helm"
# The build information in the binary says which release it was built from
# and whether it was stamped as below (a plain `go install` is not).
helm_built_here() {
  local info
  info=$(go version -m "$helm" 2>/dev/null) || return 1
  grep -Eq "^[[:space:]]+mod[[:space:]]+helm.sh/helm/v3[[:space:]]+$HELM_VERSION[[:space:]]" <<<"$info" &&
    grep -q 'chartutil.k8sVersionMinor=' <<<"$info"
}
if [ -x "$helm" ] && helm_built_here; then
  echo "chart-deps: helm $HELM_VERSION already at $helm" >&2
else
  # `go install pkg@version` builds outside any module, so the project's
  # own go.mod (if one appears) and a vendor directory cannot interfere.
  # Like helm's own release build, stamp the version and the Kubernetes
  # version of its client libraries (client-go v0.31 -> 1.31), which
  # `helm template` and `helm lint` assume when not given --kube-version.
  gomod=$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["GoMod"])')
  k8s_minor=$(sed -n 's/^[[:space:]]*k8s\.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$gomod")
  ldflags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
  done
  timed "go install helm $HELM_VERSION" \
    env GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOBIN="$gobin" \
    go install -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi

have_py() {
  python3 - "$@" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    if version(name) != want:
        sys.exit(1)
PY
}
py_pins=("kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "PyYAML==$PYYAML_VERSION")
if have_py "${py_pins[@]}"; then
  echo "chart-deps: ${py_pins[*]} already installed" >&2
else
  timed "pip install ${py_pins[*]}" sh -c '
    python3 -m pip install --quiet "$@" 2>/dev/null ||
      python3 -m pip install --quiet --break-system-packages "$@"' pip "${py_pins[@]}"
fi

if command -v promtool >/dev/null; then
  echo "chart-deps: promtool already at $(command -v promtool)" >&2
else
  timed "apt-get install prometheus" sh -c "
    $sudo apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null"
fi

echo "$helm"
