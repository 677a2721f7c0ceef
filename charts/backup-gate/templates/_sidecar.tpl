{{/*
The backup-gate sidecar as named templates, so that this chart's Deployment
and a pod spec of another chart (with worker.enabled=false) render the same
container, volumes and config. Another chart passes this chart's context:

  {{- $gate := index .Subcharts "backup-gate" }}
  initContainers:
    {{- include "backup-gate.initContainers" $gate | nindent 4 }}
  containers:
    - name: my-worker
    {{- include "backup-gate.containers" $gate | nindent 4 }}
  volumes:
    {{- include "backup-gate.volumes" $gate | nindent 4 }}

See the chart README ("Adding the sidecar to your own pod").
*/}}

{{/* Where the config file is mounted, and its name in the ConfigMap. */}}
{{- define "backup-gate.configDir" -}}/etc/backup-gate/config{{- end }}
{{- define "backup-gate.configKey" -}}gate.yaml{{- end }}
{{- define "backup-gate.configPath" -}}
{{- printf "%s/%s" (include "backup-gate.configDir" .) (include "backup-gate.configKey" .) }}
{{- end }}

{{/* The name of the ConfigMap holding the config. */}}
{{- define "backup-gate.configMapName" -}}
{{- printf "%s-config" (include "backup-gate.fullname" .) }}
{{- end }}

{{/*
Keys that hold a secret itself rather than the path of a file holding it,
mapped to what to use instead. Such a key in a backend fails the render: the
config is a ConfigMap, readable by anyone who can read the namespace.
*/}}
{{- define "backup-gate.inlineSecretKeys" -}}
password: password_file
secret_access_key: secret_access_key_file
access_key_id: access_key_id_file
session_token: the AWS_SESSION_TOKEN variable from a Secret (sidecar.env)
account_key: account_key_file
sas_token: sas_token_file
client_key: client_key_file
token: a *_file key
secret: a *_file key
key: a *_file key
{{- end }}

{{/* Fails when a backend carries a secret inline. Renders nothing. */}}
{{- define "backup-gate.rejectInlineSecrets" -}}
{{- $forbidden := include "backup-gate.inlineSecretKeys" . | fromYaml -}}
{{- range $i, $backend := .Values.config.backends }}
{{- if not (kindIs "map" $backend) }}
{{- fail (printf "config.backends[%d]: a backend is a map with at least name and driver" $i) }}
{{- end }}
{{- range $key, $_ := $backend }}
{{- if hasKey $forbidden $key }}
{{- fail (printf "config.backends[%d] (%s): %q would put a secret into the ConfigMap; mount the Secret with secretMounts and use %s instead (nothing secret is ever inlined)" $i ($backend.name | default "unnamed") $key (get $forbidden $key)) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The directory of config.state_file, shared with the worker through an
emptyDir; empty when there is no state file.
*/}}
{{- define "backup-gate.stateDir" -}}
{{- with .Values.config.state_file }}
{{- if not (isAbs .) }}
{{- fail (printf "config.state_file: %q must be an absolute path" .) }}
{{- end }}
{{- dir . }}
{{- end }}
{{- end }}

{{/*
The config file. Sections are written in the README's order; empty ones are
left out so backup-gate's own defaults apply. server.address keeps the host
the values give and always gets sidecar.port, so the probes, the Service and
the process agree on one port.
*/}}
{{- define "backup-gate.configYaml" -}}
{{- $config := .Values.config | default dict -}}
{{- include "backup-gate.rejectInlineSecrets" . -}}
{{- if not $config.backends }}
{{- fail "config.backends: at least one backend is required (see the chart README for posix, s3, swift, azure_blob and exec examples)" }}
{{- end }}
{{- $server := deepCopy ($config.server | default dict) -}}
{{- $host := "0.0.0.0" -}}
{{- with $server.address }}
{{- if not (regexMatch "^(\\[[0-9A-Fa-f:.]+\\]|[^:\\[\\]]*):[0-9]*$" (toString .)) }}
{{- fail (printf "config.server.address: %q is not host:port (the chart replaces the port with sidecar.port)" (toString .)) }}
{{- end }}
{{- $host = regexReplaceAll ":[0-9]*$" (toString .) "" -}}
{{- end }}
{{- $_ := set $server "address" (printf "%s:%d" $host (int .Values.sidecar.port)) -}}
server:
  {{- toYaml $server | nindent 2 }}
{{- with $config.check }}
check:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $config.readiness }}
readiness:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $config.state_file }}
state_file: {{ . | quote }}
{{- end }}
{{- if eq (include "backup-gate.gate" .) "process" }}
{{- with $config.worker }}
worker:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
backends:
{{- range $config.backends }}
  - name: {{ .name | toString | quote }}
    driver: {{ .driver | toString | quote }}
    {{- with omit . "name" "driver" }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
{{- end }}

{{/*
Annotation for the pod template: a change of the config changes it, so the
pods roll and backup-gate reads the new config (it reads it once at start).
*/}}
{{- define "backup-gate.configChecksum" -}}
checksum/backup-gate-config: {{ include "backup-gate.configYaml" . | sha256sum }}
{{- end }}

{{/*
failureThreshold of the startup probe: sidecar.probes.startup.failureThreshold
when set, else derived from the config. The startup window (periodSeconds x
failureThreshold) covers the first attempt plus two full backoff cycles at the
longest retry.max and timeout of any backend, and at least five minutes. Only
after that does the kubelet restart the sidecar, which is also the only retry
left with periodic_initialization: false (as a Cinder service restart).
*/}}
{{- define "backup-gate.startupFailureThreshold" -}}
{{- $probe := .Values.sidecar.probes.startup -}}
{{- if and (hasKey $probe "failureThreshold") (not (kindIs "invalid" $probe.failureThreshold)) }}
{{- $probe.failureThreshold }}
{{- else }}
{{- $check := .Values.config.check | default dict -}}
{{- $timeout := include "backup-gate.seconds" (list "config.check.timeout" ($check.timeout | default "10s")) | int -}}
{{- $retryMax := include "backup-gate.seconds" (list "config.check.retry.max" (($check.retry | default dict).max | default "60s")) | int -}}
{{- range $i, $backend := .Values.config.backends }}
{{- $own := $backend.check | default dict -}}
{{- with $own.timeout }}
{{- $timeout = max $timeout (include "backup-gate.seconds" (list (printf "config.backends[%d].check.timeout" $i) .) | int) -}}
{{- end }}
{{- with ($own.retry | default dict).max }}
{{- $retryMax = max $retryMax (include "backup-gate.seconds" (list (printf "config.backends[%d].check.retry.max" $i) .) | int) -}}
{{- end }}
{{- end }}
{{- $window := max 300 (add $timeout (mul 2 (add $retryMax $timeout))) -}}
{{- $period := max 1 ($probe.periodSeconds | int) -}}
{{- div (add $window (sub $period 1)) $period }}
{{- end }}
{{- end }}

{{/*
Fails unless sidecar.mode is valid and the cluster can run it. With
worker.gate=process there is no sidecar container, so any cluster will do.
*/}}
{{- define "backup-gate.checkMode" -}}
{{- $mode := .Values.sidecar.mode -}}
{{- if not (has $mode (list "native" "classic")) }}
{{- fail (printf "sidecar.mode: %q is neither native nor classic" $mode) }}
{{- end }}
{{- $process := eq (include "backup-gate.gate" .) "process" -}}
{{- if and (eq $mode "native") (not $process) (semverCompare "<1.29.0-0" .Capabilities.KubeVersion.Version) }}
{{- fail (printf "sidecar.mode=native needs Kubernetes 1.29 or later (native sidecars), this cluster is %s: set sidecar.mode=classic" .Capabilities.KubeVersion.Version) }}
{{- end }}
{{- end }}

{{/*
The volume mounts backup-gate needs: its config, the Secrets of secretMounts
(read-only), the state directory (which `check` does not write, so only when
withState), and sidecar.volumeMounts. Takes (dict "context" . "withState" bool).
*/}}
{{- define "backup-gate.sidecarVolumeMounts" -}}
{{- $withState := .withState -}}
{{- with .context -}}
- name: backup-gate-config
  mountPath: {{ include "backup-gate.configDir" . }}
  readOnly: true
{{- range $i, $mount := .Values.secretMounts }}
- name: {{ printf "backup-gate-secret-%d" $i }}
  mountPath: {{ required (printf "secretMounts[%d].mountPath is required" $i) $mount.mountPath }}
  readOnly: true
{{- end }}
{{- if $withState }}
{{- with include "backup-gate.stateDir" . }}
- name: backup-gate-state
  mountPath: {{ . }}
{{- end }}
{{- end }}
{{- with .Values.sidecar.volumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The backup-gate container, as one list item. With sidecar.mode=native it goes
into initContainers: restartPolicy Always makes it a native sidecar, and the
kubelet starts the containers after it only once its startup probe (/readyz)
succeeded, that is once storage initialization succeeded. With classic it
goes into containers, and only sidecar.initCheck can hold the worker back.
*/}}
{{- define "backup-gate.sidecarContainer" -}}
{{- include "backup-gate.checkMode" . -}}
{{- $sidecar := .Values.sidecar -}}
{{- $probes := $sidecar.probes -}}
- name: {{ $sidecar.name }}
  image: {{ include "backup-gate.image" (dict "image" .Values.image "defaultTag" .Chart.AppVersion "path" "image") }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  {{- if eq $sidecar.mode "native" }}
  restartPolicy: Always
  {{- end }}
  args:
    - --config
    - {{ include "backup-gate.configPath" . }}
    - --log-level
    - {{ $sidecar.logLevel }}
    {{- with $sidecar.extraArgs }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - name: {{ $sidecar.portName }}
      containerPort: {{ $sidecar.port }}
      protocol: TCP
  {{- with $sidecar.env }}
  env:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $sidecar.envFrom }}
  envFrom:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if eq $sidecar.mode "native" }}
  startupProbe:
    httpGet:
      path: /readyz
      port: {{ $sidecar.portName }}
    periodSeconds: {{ $probes.startup.periodSeconds }}
    timeoutSeconds: {{ $probes.startup.timeoutSeconds }}
    failureThreshold: {{ include "backup-gate.startupFailureThreshold" . }}
  {{- end }}
  {{- include "backup-gate.probes" . | nindent 2 }}
  {{- with $sidecar.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $sidecar.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    {{- include "backup-gate.sidecarVolumeMounts" (dict "context" . "withState" true) | nindent 4 }}
{{- end }}

{{/*
The readiness (/readyz) and liveness (/livez) probes of the container that
runs backup-gate: the sidecar, or the worker with worker.gate=process.
*/}}
{{- define "backup-gate.probes" -}}
{{- $sidecar := .Values.sidecar -}}
{{- $probes := $sidecar.probes -}}
readinessProbe:
  httpGet:
    path: /readyz
    port: {{ $sidecar.portName }}
  periodSeconds: {{ $probes.readiness.periodSeconds }}
  timeoutSeconds: {{ $probes.readiness.timeoutSeconds }}
  failureThreshold: {{ $probes.readiness.failureThreshold }}
  successThreshold: {{ $probes.readiness.successThreshold }}
livenessProbe:
  httpGet:
    path: /livez
    port: {{ $sidecar.portName }}
  periodSeconds: {{ $probes.liveness.periodSeconds }}
  timeoutSeconds: {{ $probes.liveness.timeoutSeconds }}
  failureThreshold: {{ $probes.liveness.failureThreshold }}
{{- end }}

{{/*
An init container that runs `backup-gate check` once and exits 1 until
storage works, so the kubelet retries it and the containers after it wait:
start gating for sidecar.mode=classic, on clusters without native sidecars.
*/}}
{{- define "backup-gate.initCheckContainer" -}}
{{- $sidecar := .Values.sidecar -}}
- name: {{ printf "%s-init" $sidecar.name | trunc 63 | trimSuffix "-" }}
  image: {{ include "backup-gate.image" (dict "image" .Values.image "defaultTag" .Chart.AppVersion "path" "image") }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args:
    - check
    - --config
    - {{ include "backup-gate.configPath" . }}
  {{- with $sidecar.env }}
  env:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $sidecar.envFrom }}
  envFrom:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $sidecar.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $sidecar.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    {{- include "backup-gate.sidecarVolumeMounts" (dict "context" . "withState" false) | nindent 4 }}
{{- end }}

{{/*
What sidecar.mode puts into a pod's initContainers: the `check` init
container (sidecar.initCheck) and, in native mode, the sidecar. Empty in
classic mode without initCheck. With worker.gate=process: the init container
that copies backup-gate for the worker (and the `check` one if enabled).
*/}}
{{- define "backup-gate.initContainers" -}}
{{- include "backup-gate.checkMode" . -}}
{{- $items := list -}}
{{- if .Values.sidecar.initCheck.enabled }}
{{- $items = append $items (include "backup-gate.initCheckContainer" .) -}}
{{- end }}
{{- if eq (include "backup-gate.gate" .) "process" }}
{{- $items = append $items (include "backup-gate.installContainer" .) -}}
{{- else if eq .Values.sidecar.mode "native" }}
{{- $items = append $items (include "backup-gate.sidecarContainer" .) -}}
{{- end }}
{{- join "\n" $items }}
{{- end }}

{{/*
What sidecar.mode puts into a pod's containers: the sidecar in classic mode;
nothing with worker.gate=process, where backup-gate runs in the worker.
*/}}
{{- define "backup-gate.containers" -}}
{{- include "backup-gate.checkMode" . -}}
{{- if and (eq .Values.sidecar.mode "classic") (ne (include "backup-gate.gate" .) "process") }}
{{- include "backup-gate.sidecarContainer" . }}
{{- end }}
{{- end }}

{{/* The ConfigMap volume with the config, as one list item. */}}
{{- define "backup-gate.configVolume" -}}
- name: backup-gate-config
  configMap:
    name: {{ include "backup-gate.configMapName" . }}
{{- end }}

{{/*
Every volume the sidecar mounts: the config, one per secretMounts entry, the
state directory when config.state_file is set, and with worker.gate=process
the emptyDir that carries backup-gate into the worker.
*/}}
{{- define "backup-gate.volumes" -}}
{{ include "backup-gate.configVolume" . }}
{{- range $i, $mount := .Values.secretMounts }}
- name: {{ printf "backup-gate-secret-%d" $i }}
  secret:
    secretName: {{ required (printf "secretMounts[%d].secretName is required" $i) $mount.secretName }}
    defaultMode: {{ $mount.defaultMode | default 288 }}
    {{- with $mount.items }}
    items:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- if hasKey $mount "optional" }}
    optional: {{ $mount.optional }}
    {{- end }}
{{- end }}
{{- if include "backup-gate.stateDir" . }}
- name: backup-gate-state
  emptyDir:
    {{- with .Values.stateVolume.medium }}
    medium: {{ . }}
    {{- end }}
    {{- with .Values.stateVolume.sizeLimit }}
    sizeLimit: {{ . }}
    {{- end }}
{{- end }}
{{- if eq (include "backup-gate.gate" .) "process" }}
- name: backup-gate-bin
  emptyDir:
    {{- with .Values.binVolume.medium }}
    medium: {{ . }}
    {{- end }}
    {{- with .Values.binVolume.sizeLimit }}
    sizeLimit: {{ . }}
    {{- end }}
{{- end }}
{{- end }}

{{/*
The worker's read-only mount of the state directory, as one list item (empty
without config.state_file): the worker reads state_file before it takes a job.
*/}}
{{- define "backup-gate.stateVolumeMount" -}}
{{- with include "backup-gate.stateDir" . }}
- name: backup-gate-state
  mountPath: {{ . }}
  readOnly: true
{{- end }}
{{- end }}
