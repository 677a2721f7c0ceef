{{/*
Names, labels and images. Every name is cut to the 63 characters of a DNS
label, without a trailing dash.
*/}}

{{/* The chart's name, or nameOverride. */}}
{{- define "backup-gate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release-qualified name of every object: fullnameOverride, or the release
name alone when it already contains the chart's name, else "<release>-<name>".
*/}}
{{- define "backup-gate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<chart>-<version>", for the helm.sh/chart label. */}}
{{- define "backup-gate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "backup-gate.labels" -}}
helm.sh/chart: {{ include "backup-gate.chart" . }}
{{ include "backup-gate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels: only these two, because a Deployment's selector cannot change
after it is created.
*/}}
{{- define "backup-gate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "backup-gate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount the pod runs as. */}}
{{- define "backup-gate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "backup-gate.fullname" .) .Values.serviceAccount.name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
An image reference, "[registry/]repository[:tag][@digest]". Takes a dict:
image (the values map), defaultTag (used when image.tag is empty), path (the
values path, for the error message).
*/}}
{{- define "backup-gate.image" -}}
{{- $image := .image -}}
{{- if not $image.repository }}
{{- fail (printf "%s.repository is required" .path) }}
{{- end }}
{{- $ref := $image.repository -}}
{{- with $image.registry }}
{{- $ref = printf "%s/%s" . $ref -}}
{{- end }}
{{- $tag := $image.tag | default .defaultTag | toString -}}
{{- if $tag }}
{{- $ref = printf "%s:%s" $ref $tag -}}
{{- end }}
{{- with $image.digest }}
{{- $ref = printf "%s@%s" $ref . -}}
{{- end }}
{{- if not (or $tag $image.digest) }}
{{- fail (printf "%s: set a tag or a digest" .path) }}
{{- end }}
{{- $ref }}
{{- end }}

{{/*
Whole seconds (rounded up) of a backup-gate duration such as "500ms", "10s",
"1m30s". Takes (list "values.path" "duration"); fails naming the path when the
text is not a duration, so a typo is caught at render time.
*/}}
{{- define "backup-gate.seconds" -}}
{{- $path := index . 0 -}}
{{- $text := index . 1 | toString -}}
{{- if not (regexMatch "^([0-9]+(ms|h|m|s))+$" $text) }}
{{- fail (printf "%s: %q is not a duration (use e.g. 500ms, 10s, 1m, 1h)" $path $text) }}
{{- end }}
{{- $total := 0.0 -}}
{{- range $part := regexFindAll "[0-9]+(ms|h|m|s)" $text -1 }}
{{- $n := regexFind "^[0-9]+" $part | float64 -}}
{{- if hasSuffix "ms" $part }}
{{- $total = addf $total (divf $n 1000) -}}
{{- else if hasSuffix "h" $part }}
{{- $total = addf $total (mulf $n 3600) -}}
{{- else if hasSuffix "m" $part }}
{{- $total = addf $total (mulf $n 60) -}}
{{- else }}
{{- $total = addf $total $n -}}
{{- end }}
{{- end }}
{{- ceil $total | int -}}
{{- end }}
