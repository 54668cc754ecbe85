{{/*
Base of every resource name: the release name, so two releases (two streams) never share
a resource. Truncated so that "<base>-archiver" fits the CronJob limit of 52 characters.
*/}}
{{- define "ffmpeg.fullname" -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "ffmpeg.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ffmpeg.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ffmpeg.labels" -}}
helm.sh/chart: {{ include "ffmpeg.chart" . }}
{{ include "ffmpeg.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ffmpeg-recorder
{{- end -}}

{{- define "ffmpeg.configName" -}}{{ include "ffmpeg.fullname" . }}-config{{- end -}}
{{- define "ffmpeg.volumeName" -}}{{ include "ffmpeg.fullname" . }}-volume{{- end -}}

{{/* The StorageClass is cluster-scoped: qualify it with the namespace as well. */}}
{{- define "ffmpeg.storageClassName" -}}
{{- if .Values.storage.createClass -}}
{{- printf "%s-%s-azurefile" .Release.Namespace (include "ffmpeg.fullname" .) -}}
{{- else -}}
{{- required "storage.className is required when storage.createClass is false (an existing ReadWriteMany class, e.g. azurefile-csi)" .Values.storage.className -}}
{{- end -}}
{{- end -}}

{{/* Secret name and key of the storage connection string; exactly one source allowed. */}}
{{- define "ffmpeg.secretName" -}}
{{- if and .Values.storageConnectionString .Values.existingSecret -}}
{{- fail "set either storageConnectionString or existingSecret, not both" -}}
{{- else if .Values.existingSecret -}}
{{- .Values.existingSecret -}}
{{- else if .Values.storageConnectionString -}}
{{- include "ffmpeg.fullname" . }}-secrets
{{- else -}}
{{- fail "storageConnectionString (e.g. --set storageConnectionString=\"$CONNECTION_STRING\") or existingSecret is required" -}}
{{- end -}}
{{- end -}}

{{- define "ffmpeg.secretKey" -}}
{{- if .Values.existingSecret -}}{{ .Values.existingSecretKey }}{{- else -}}AZURE_STORAGE_CONNECTION_STRING{{- end -}}
{{- end -}}

{{/* Whether the archiver uses Workload Identity (else the connection string). */}}
{{- define "ffmpeg.workloadIdentity" -}}
{{- if eq .Values.storageAuth "workloadIdentity" -}}true{{- end -}}
{{- end -}}

{{/* The archiver's ServiceAccount (workloadIdentity mode): the federated credential's subject is system:serviceaccount:<namespace>:<this>. */}}
{{- define "ffmpeg.serviceAccountName" -}}{{ include "ffmpeg.fullname" . }}-archiver{{- end -}}

{{/* Values every workload needs; fails early with the flag to pass. */}}
{{- define "ffmpeg.validate" -}}
{{- $_ := required "streamName is required (--set streamName=NAME)" .Values.streamName -}}
{{- $_ := required "streamURL is required (--set streamURL=https://...)" .Values.streamURL -}}
{{- $_ := required "cronImage is required (--set cronImage=ACR_NAME.azurecr.io/segment-selector:TAG)" .Values.cronImage -}}
{{- if include "ffmpeg.workloadIdentity" . -}}
{{- if or .Values.storageConnectionString .Values.existingSecret -}}
{{- fail "storageAuth=workloadIdentity uses no connection string: unset storageConnectionString and existingSecret" -}}
{{- end -}}
{{- $_ := required "workloadIdentity.clientId is required with storageAuth=workloadIdentity (terraform output archiver_client_id)" .Values.workloadIdentity.clientId -}}
{{- $_ := required "workloadIdentity.storageAccount is required with storageAuth=workloadIdentity (terraform output storage_account_name)" .Values.workloadIdentity.storageAccount -}}
{{- if ne (empty .Values.workloadIdentity.blobEndpoint) (empty .Values.workloadIdentity.tableEndpoint) -}}
{{- fail "workloadIdentity.blobEndpoint and workloadIdentity.tableEndpoint: set both or neither" -}}
{{- end -}}
{{- else -}}
{{- $_ := include "ffmpeg.secretName" . -}}
{{- end -}}
{{- end -}}

{{/* Checkov findings that do not apply, with the reason (annotations on workloads). */}}
{{- define "ffmpeg.checkovSkips" -}}
checkov.io/skip1: CKV_K8S_43=images are pinned by tag; pin digests in your own registry mirror (digests cannot be resolved offline here)
{{- end -}}

{{/* Shell test used by the ffmpeg probes: one of this pod's files changed recently. */}}
{{- define "ffmpeg.recordingProbe" -}}
exec:
  command:
    - /bin/sh
    - -c
    - test -n "$(find "$FFMPEG_PATH" -maxdepth 1 -name "${MY_POD_NAME}_*" -mmin -{{ .Values.ffmpeg.stallMinutes }} | head -n 1)"
{{- end -}}

{{/* The archiver's environment; the metrics exporter gets the same (templates/metrics.yaml). */}}
{{- define "ffmpeg.archiverEnv" -}}
{{- if include "ffmpeg.workloadIdentity" . -}}
# Entra ID: the archive's account; no key anywhere.
- name: AZURE_STORAGE_ACCOUNT
  value: {{ .Values.workloadIdentity.storageAccount | quote }}
{{- with .Values.workloadIdentity.blobEndpoint }}
- name: AZURE_STORAGE_BLOB_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with .Values.workloadIdentity.tableEndpoint }}
- name: AZURE_STORAGE_TABLE_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- else -}}
- name: AZURE_STORAGE_CONNECTION_STRING
  valueFrom:
    secretKeyRef:
      name: {{ include "ffmpeg.secretName" . }}
      key: {{ include "ffmpeg.secretKey" . }}
{{- end }}
- name: FFMPEG_PATH
  valueFrom:
    configMapKeyRef:
      name: {{ include "ffmpeg.configName" . }}
      key: path
- name: STREAM_NAME
  valueFrom:
    configMapKeyRef:
      name: {{ include "ffmpeg.configName" . }}
      key: stream.name
# After FFMPEG_PATH and STREAM_NAME, so that $(...) expands.
- name: FOLDER
  value: "$(FFMPEG_PATH)/$(STREAM_NAME)"
- name: FILE_DURATION
  valueFrom:
    configMapKeyRef:
      name: {{ include "ffmpeg.configName" . }}
      key: segment.time
# The recorder's file names (same ConfigMap key as ffmpeg's pattern).
- name: NAME_FORMAT
  valueFrom:
    configMapKeyRef:
      name: {{ include "ffmpeg.configName" . }}
      key: file.format
# Stop starting new work 40 s before activeDeadlineSeconds ends the pod.
- name: RUN_DEADLINE_SECONDS
  value: {{ sub .Values.activeDeadlineSeconds 40 | quote }}
{{- with .Values.logFormat }}
- name: LOG_FORMAT
  value: {{ . | quote }}
{{- end }}
# Dead air: silence longer than this many seconds, below this level.
- name: SILENCE_SECONDS
  value: {{ .Values.silence.seconds | quote }}
- name: SILENCE_DBFS
  value: {{ .Values.silence.dbfs | quote }}
# What a blob holds: frame-exact, or original (the recordings' bytes).
- name: ARCHIVE_MODE
  value: {{ .Values.archiveMode | quote }}
- name: TZ
  value: UTC
{{- end -}}
