{{/*
worker.gate=process: backup-gate runs inside the worker container as its
main process (`backup-gate run -- WORKER`), starting the worker once storage
is ready, stopping it after config.worker.stop_after of failure and starting
it again on recovery. An init container copies backup-gate from its image
into an emptyDir that the worker mounts read-only, so any worker image works
unchanged.

backup-gate is linked dynamically against Debian 12 libraries (yaml-cpp,
prometheus-cpp, glibc; cpprestsdk and OpenSSL through the module of its s3,
swift and azure_blob drivers, which it loads when a config names one of
them) that a worker image rarely has, or has in other versions. So the init
container copies the binary and that module together with every library
either links and the dynamic loader that the image's own build uses, and the
worker starts it through that loader with --library-path, which is also
where the binary's dlopen finds the module: the bundle depends on nothing of
the worker image but the kernel. --library-path is an argument of the
loader, not LD_LIBRARY_PATH, so the worker started by backup-gate sees an
untouched environment and uses its own libraries.
*/}}

{{/* worker.gate, validated: "sidecar" or "process". */}}
{{- define "backup-gate.gate" -}}
{{- $gate := .Values.worker.gate | default "sidecar" -}}
{{- if not (has $gate (list "sidecar" "process")) }}
{{- fail (printf "worker.gate: %q is neither sidecar nor process" $gate) }}
{{- end }}
{{- if and (eq $gate "process") (not .Values.worker.enabled) }}
{{- fail "worker.gate=process wraps the command of the chart's own worker container: it needs worker.enabled=true" }}
{{- end }}
{{- $gate }}
{{- end }}

{{/* Where the emptyDir with backup-gate is mounted, and what it holds. */}}
{{- define "backup-gate.binDir" -}}/gate{{- end }}
{{- define "backup-gate.binPath" -}}{{ include "backup-gate.binDir" . }}/bin/backup-gate{{- end }}
{{- define "backup-gate.loaderPath" -}}{{ include "backup-gate.binDir" . }}/lib/ld.so{{- end }}
{{/* The object-store module in the image, where the binary's rpath finds it. */}}
{{- define "backup-gate.imageModulePath" -}}/usr/local/lib/backup-gate/libbackup-gate-objectstores.so{{- end }}

{{/*
The script of the init container, run by the image's /bin/sh (debian:12-slim:
sh, ldd, grep, sed and cp are all there). A shell is needed because which
libraries the binary and the module link, and where the loader lives (it
differs per CPU architecture), is known only inside the image: ldd names
them. The module goes into lib/ with the libraries. The last line starts the
copy through the copied loader, so a bundle that lacks a library fails here,
in the init container, and not in the worker.
*/}}
{{- define "backup-gate.installScript" -}}
{{- $dir := include "backup-gate.binDir" . -}}
set -eu
bin=/usr/local/bin/backup-gate
module={{ include "backup-gate.imageModulePath" . }}
libs=$(ldd "$bin")
mkdir -p {{ $dir }}/bin {{ $dir }}/lib
cp "$bin" {{ include "backup-gate.binPath" . }}
cp "$module" {{ $dir }}/lib/
for lib in $(printf '%s\n' "$libs" "$(ldd "$module")" | grep -o '/[^ ]*'); do cp -L "$lib" {{ $dir }}/lib/; done
cp -L "$(printf '%s\n' "$libs" | sed -n 's|^[[:space:]]*\(/[^ ]*\) (0x.*|\1|p')" {{ include "backup-gate.loaderPath" . }}
{{ include "backup-gate.loaderPath" . }} --library-path {{ $dir }}/lib {{ include "backup-gate.binPath" . }} --version
{{- end }}

{{/*
The init container that copies backup-gate into the backup-gate-bin emptyDir,
with the sidecar's locked-down security context and resources.
*/}}
{{- define "backup-gate.installContainer" -}}
{{- $sidecar := .Values.sidecar -}}
- name: {{ printf "%s-install" $sidecar.name | trunc 63 | trimSuffix "-" }}
  image: {{ include "backup-gate.image" (dict "image" .Values.image "defaultTag" .Chart.AppVersion "path" "image") }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command:
    - /bin/sh
    - -c
    - |
      {{- include "backup-gate.installScript" . | nindent 6 }}
  {{- with $sidecar.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $sidecar.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    - name: backup-gate-bin
      mountPath: {{ include "backup-gate.binDir" . }}
{{- end }}

{{/*
The worker container's command: backup-gate (through the copied loader)
running worker.command as its child. worker.args stay the container's args,
so they follow worker.command on the command line.
*/}}
{{- define "backup-gate.processCommand" -}}
{{- if not .Values.worker.command }}
{{- fail "worker.gate=process: set worker.command to the worker's command (e.g. [\"cinder-backup\"]); the chart puts backup-gate in front of it and cannot discover the image's entrypoint" }}
{{- end }}
{{- $command := list (include "backup-gate.loaderPath" .) "--library-path" (printf "%s/lib" (include "backup-gate.binDir" .)) "--argv0" (include "backup-gate.binPath" .) (include "backup-gate.binPath" .) "run" "--config" (include "backup-gate.configPath" .) "--log-level" .Values.sidecar.logLevel -}}
{{- $command = concat $command (.Values.sidecar.extraArgs | default list) (list "--") .Values.worker.command -}}
{{- toYaml $command }}
{{- end }}

{{/*
The worker container's volume mounts with worker.gate=process: its own
worker.volumeMounts, then what backup-gate needs (config, Secrets read-only,
the state directory read-write since backup-gate writes state_file there,
sidecar.volumeMounts) and the copied binary read-only. A mount that both
lists give identically appears once; two different mounts at one path fail
the render.
*/}}
{{- define "backup-gate.processVolumeMounts" -}}
{{- $mounts := .Values.worker.volumeMounts | default list -}}
{{- $gate := include "backup-gate.sidecarVolumeMounts" (dict "context" . "withState" true) | fromYamlArray -}}
{{- $gate = append $gate (dict "name" "backup-gate-bin" "mountPath" (include "backup-gate.binDir" .) "readOnly" true) -}}
{{- range $gate }}
{{- $mount := . -}}
{{- $same := false -}}
{{- range $mounts }}
{{- if eq (.mountPath | toString) ($mount.mountPath | toString) }}
{{- if ne .name $mount.name }}
{{- fail (printf "worker.gate=process: worker.volumeMounts mounts %q at %s, where backup-gate needs %q" .name .mountPath $mount.name) }}
{{- end }}
{{- $same = true -}}
{{- end }}
{{- end }}
{{- if not $same }}
{{- $mounts = append $mounts $mount -}}
{{- end }}
{{- end }}
{{- toYaml $mounts }}
{{- end }}

{{/*
Fails when the kubelet would SIGKILL backup-gate before backup-gate has
stopped the worker: after SIGTERM it waits config.worker.stop_timeout for the
worker before it kills it, so the grace period must be longer.
*/}}
{{- define "backup-gate.checkProcessGrace" -}}
{{- $stopTimeout := (.Values.config.worker | default dict).stop_timeout | default "30s" -}}
{{- $seconds := include "backup-gate.seconds" (list "config.worker.stop_timeout" $stopTimeout) | int -}}
{{- if le (int .Values.terminationGracePeriodSeconds) $seconds }}
{{- fail (printf "worker.gate=process: terminationGracePeriodSeconds (%d) must be longer than config.worker.stop_timeout (%s), or the kubelet kills backup-gate before it has stopped the worker" (int .Values.terminationGracePeriodSeconds) $stopTimeout) }}
{{- end }}
{{- end }}
