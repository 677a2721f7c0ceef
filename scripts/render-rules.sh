#!/usr/bin/env bash
# Renders the alerting rules of the Helm chart (the "backup-gate.rules" template
# in charts/backup-gate/templates/_rules.tpl) into a plain Prometheus rule file,
# for Prometheus set-ups without the Prometheus Operator and for promtool.
#
#   scripts/render-rules.sh            rewrite charts/backup-gate/rules/backup-gate.rules.yml
#   scripts/render-rules.sh FILE       write FILE instead ("-" for stdout)
#   scripts/render-rules.sh FILE -f values.yaml --set alerts.x=y ...
#                                      extra arguments go to `helm template`
#
# The template is rendered through a throwaway chart that holds only
# _rules.tpl, so the result depends on nothing else in the chart: with no
# values it is the documented defaults. Needs helm 3 (installed with Go when
# missing, the same version as scripts/chart-deps.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
helm_version=v3.16.4
out=${1:-$root/charts/backup-gate/rules/backup-gate.rules.yml}
shift $(($# > 0 ? 1 : 0))

helm=$(command -v helm || true)
if [ -z "$helm" ] && command -v go >/dev/null; then
  gobin=$(go env GOBIN)
  helm="${gobin:-$(go env GOPATH)/bin}/helm"
  if [ ! -x "$helm" ]; then
    echo "installing helm $helm_version with go" >&2
    go install "helm.sh/helm/v3/cmd/helm@$helm_version"
  fi
fi
if [ -z "$helm" ] || [ ! -x "$helm" ]; then
  echo "render-rules.sh: helm not found (scripts/chart-deps.sh installs it)" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/chart/templates"
cat >"$work/chart/Chart.yaml" <<'EOF'
apiVersion: v2
name: backup-gate-rules
version: 0.0.0
EOF
cp "$root/charts/backup-gate/templates/_rules.tpl" "$work/chart/templates/"
cat >"$work/chart/templates/rules.yaml" <<'EOF'
# Generated from charts/backup-gate/templates/_rules.tpl by scripts/render-rules.sh; do not edit.
groups:
{{ include "backup-gate.rules" . }}
EOF

"$helm" template backup-gate "$work/chart" --show-only templates/rules.yaml "$@" |
  sed -e '/^---$/d' -e '/^# Source: /d' >"$work/rules.yml"

if [ "$out" = "-" ]; then
  cat "$work/rules.yml"
else
  mv "$work/rules.yml" "$out"
fi
