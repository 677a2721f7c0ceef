{{/*
backup-gate alerting rules: the list of rule groups, for the spec.groups of a
PrometheusRule (`groups: {{- include "backup-gate.rules" . | nindent 4 }}`) or
for a plain Prometheus rule file. Every threshold, window, `for:` and the
selector come from .Values.alerts; the fallbacks below are the documented
defaults (rules/README.md), so the rules render before values.yaml has them.
rules/backup-gate.rules.yml is this template rendered with those defaults by
scripts/render-rules.sh; a test fails when the two differ.

Prometheus templates in annotations are Helm raw strings (`...`), so
{{ $labels.backend }} reaches Prometheus untouched.
*/}}
{{- define "backup-gate.rules" -}}
{{- $a := .Values.alerts | default dict -}}
{{- $sel := tpl (include "backup-gate.rules.setting" (list $a "selector" `job="backup-gate"`)) . -}}
{{- /* The selector followed by a comma, for selectors with more matchers. */ -}}
{{- $selc := ternary (printf "%s, " $sel) "" (ne $sel "") -}}
{{- $common := dict "alerts" $a "runbook" (include "backup-gate.rules.setting" (list $a "runbookUrl" "https://github.com/backup-gate/backup-gate/blob/main/charts/backup-gate/rules/README.md")) -}}
{{- $where := `backend {{ $labels.backend }} ({{ $labels.driver }}) in pod {{ $labels.namespace }}/{{ $labels.pod }}` -}}
- name: backup-gate
  rules:
{{- /* BackendDown */ -}}
{{- $for := include "backup-gate.rules.setting" (list $a "backendDown.for" "10m") }}
{{- include "backup-gate.rules.alert" (merge (dict
    "name" "BackupGateBackendDown"
    "expr" (printf `backup_gate_backend_up{%s} == 0` $sel)
    "for" $for
    "severity" (include "backup-gate.rules.setting" (list $a "backendDown.severity" "warning"))
    "summary" "A backup storage backend is not ready."
    "description" (printf `The %s has not been ready for %s, so backups to it fail. /readyz?verbose and the sidecar's log name the reason.` $where $for)
  ) $common) }}
{{- /* NotReady */ -}}
{{- $for = include "backup-gate.rules.setting" (list $a "notReady.for" "15m") }}
{{- include "backup-gate.rules.alert" (merge (dict
    "name" "BackupGateNotReady"
    "expr" (printf `backup_gate_ready{%s} == 0` $sel)
    "for" $for
    "severity" (include "backup-gate.rules.setting" (list $a "notReady.severity" "critical"))
    "summary" "A backup worker is out of rotation because its backup storage does not work."
    "description" (printf `Pod {{ $labels.namespace }}/{{ $labels.pod }} has answered /readyz with 503 for %s: by its readiness policy its backup storage does not work, and it takes no backup work through its Service.` $for)
  ) $common) }}
{{- /* BackendFlapping: ready <-> failed only; start-up transitions do not count. */ -}}
{{- $window := include "backup-gate.rules.setting" (list $a "backendFlapping.window" "30m") }}
{{- include "backup-gate.rules.alert" (merge (dict
    "name" "BackupGateBackendFlapping"
    "expr" (printf `sum without (from, to) (
  increase(backup_gate_backend_transitions_total{%sfrom=~"ready|failed"}[%s])
) > %s` $selc $window (include "backup-gate.rules.setting" (list $a "backendFlapping.threshold" "4")))
    "for" (include "backup-gate.rules.setting" (list $a "backendFlapping.for" "5m"))
    "severity" (include "backup-gate.rules.setting" (list $a "backendFlapping.severity" "warning"))
    "summary" "A backup storage backend keeps changing between ready and failed."
    "description" (printf `The %s changed between ready and failed {{ printf "%%.0f" $value }} times in the last %s; the storage answers intermittently.` $where $window)
  ) $common) }}
{{- /* CheckSlow: the quantile is taken per series, not summed, so it keeps
       every target label and matches the timeout gauge one-to-one. */ -}}
{{- $window = include "backup-gate.rules.setting" (list $a "checkSlow.window" "15m") }}
{{- $quantile := include "backup-gate.rules.setting" (list $a "checkSlow.quantile" "0.95") }}
{{- $ratio := include "backup-gate.rules.setting" (list $a "checkSlow.timeoutRatio" "0.8") }}
{{- include "backup-gate.rules.alert" (merge (dict
    "name" "BackupGateCheckSlow"
    "expr" (printf `histogram_quantile(%s, rate(backup_gate_backend_check_duration_seconds_bucket{%s}[%s]))
  > %s * backup_gate_backend_check_timeout_seconds{%s}` $quantile $sel $window $ratio $sel)
    "for" (include "backup-gate.rules.setting" (list $a "checkSlow.for" "15m"))
    "severity" (include "backup-gate.rules.setting" (list $a "checkSlow.severity" "warning"))
    "summary" "Backup storage checks are close to their deadline."
    "description" (printf `The %s quantile of the check duration of the %s is {{ $value | humanizeDuration }} over the last %s, more than %s of its deadline; checks are about to time out.` $quantile $where $window $ratio)
  ) $common) }}
{{- /* AttemptHung */ -}}
{{- $for = include "backup-gate.rules.setting" (list $a "attemptHung.for" "5m") }}
{{- include "backup-gate.rules.alert" (merge (dict
    "name" "BackupGateAttemptHung"
    "expr" (printf `backup_gate_backend_attempt_hung{%s} == 1` $sel)
    "for" $for
    "severity" (include "backup-gate.rules.setting" (list $a "attemptHung.severity" "warning"))
    "summary" "A backup storage check is stuck past its deadline."
    "description" (printf `An attempt of the %s passed its deadline and has not returned for %s; the backend stays failed until it does. Storage I/O is stuck, for example on a hard NFS mount whose server does not answer.` $where $for)
  ) $common) }}
{{- /* BackendFillingUp: free_bytes exists only for drivers that can tell (posix). */ -}}
{{- $window = include "backup-gate.rules.setting" (list $a "backendFillingUp.window" "6h") }}
{{- $hours := include "backup-gate.rules.setting" (list $a "backendFillingUp.predictHours" "24") }}
{{- include "backup-gate.rules.alert" (merge (dict
    "name" "BackupGateBackendFillingUp"
    "expr" (printf `backup_gate_backend_free_bytes{%s}
  and
predict_linear(backup_gate_backend_free_bytes{%s}[%s], %s * 3600) < 0` $sel $sel $window $hours)
    "for" (include "backup-gate.rules.setting" (list $a "backendFillingUp.for" "1h"))
    "severity" (include "backup-gate.rules.setting" (list $a "backendFillingUp.severity" "warning"))
    "summary" "A backup storage backend is running out of space."
    "description" (printf `The %s has {{ $value | humanize1024 }}B free and, at the rate of the last %s, runs out of space within %s hours.` $where $window $hours)
  ) $common) }}
{{- /* TargetDown */ -}}
{{- $for = include "backup-gate.rules.setting" (list $a "targetDown.for" "10m") }}
{{- include "backup-gate.rules.alert" (merge (dict
    "name" "BackupGateTargetDown"
    "expr" (printf `up{%s} == 0` $sel)
    "for" $for
    "severity" (include "backup-gate.rules.setting" (list $a "targetDown.severity" "warning"))
    "summary" "Prometheus cannot scrape a backup-gate sidecar."
    "description" (printf `Prometheus has failed to scrape backup-gate in pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.instance }}) for %s; the readiness and storage of that pod are unknown.` $for)
  ) $common) }}
{{- /* Absent: no target, every target down, or targets that are not backup-gate. */ -}}
{{- $for = include "backup-gate.rules.setting" (list $a "absent.for" "15m") }}
{{- include "backup-gate.rules.alert" (merge (dict
    "name" "BackupGateAbsent"
    "expr" (printf `absent(backup_gate_build_info{%s})` $sel)
    "for" $for
    "severity" (include "backup-gate.rules.setting" (list $a "absent.severity" "warning"))
    "summary" "backup-gate has disappeared from Prometheus."
    "description" (printf `No backup-gate metrics (backup_gate_build_info{%s}) have been scraped for %s: the sidecar is not deployed, Prometheus does not discover it, or every one of its targets is down. Nothing watches the backup storage meanwhile.` $sel $for)
  ) $common) }}
{{- end -}}

{{/*
One alert. Takes a dict: name, expr, for, severity, summary, description, and
from $common: alerts (.Values.alerts) and runbook (the base URL; the anchor is
the lower-cased alert name). Renders nothing when alerts.disabled.<name> is true.
*/}}
{{- define "backup-gate.rules.alert" -}}
{{- $disabled := get .alerts "disabled" | default dict -}}
{{- if not (get $disabled .name) }}
  - alert: {{ .name }}
    expr: |-
      {{- .expr | nindent 6 }}
    for: {{ get . "for" }}
    labels:
      severity: {{ .severity }}
      {{- range $key, $value := (get .alerts "additionalLabels" | default dict) }}
      {{- if ne $key "severity" }}
      {{ $key }}: {{ $value | toString | quote }}
      {{- end }}
      {{- end }}
    annotations:
      summary: {{ .summary | quote }}
      description: {{ .description | quote }}
      runbook_url: {{ printf "%s#%s" .runbook (lower .name) | quote }}
{{- end }}
{{- end -}}

{{/*
One setting of .Values.alerts by dotted path, or the fallback when it is
missing or null. Unlike `default`, a value of 0 or false is kept.
Takes (list .Values.alerts "path.to.key" "fallback").
*/}}
{{- define "backup-gate.rules.setting" -}}
{{- $node := index . 0 -}}
{{- $found := true -}}
{{- range $key := splitList "." (index . 1) -}}
{{- if and $found (kindIs "map" $node) (hasKey $node $key) (not (kindIs "invalid" (get $node $key))) -}}
{{- $node = get $node $key -}}
{{- else -}}
{{- $found = false -}}
{{- end -}}
{{- end -}}
{{- if $found -}}{{ $node }}{{- else -}}{{ index . 2 }}{{- end -}}
{{- end -}}
