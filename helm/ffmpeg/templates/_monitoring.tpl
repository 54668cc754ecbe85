{{/*
Monitoring (issue #25): the metrics exporter's names and the parameters of
files/alert-rules.yaml, the rules file the chart shares with Terraform (terraform/monitoring.tf).
*/}}

{{- define "ffmpeg.metricsName" -}}{{ include "ffmpeg.fullname" . }}-metrics{{- end -}}

{{/* The stream label every metric carries: the stream's name, lowercased. */}}
{{- define "ffmpeg.streamLabel" -}}{{ lower .Values.streamName }}{{- end -}}

{{/* Seconds between two runs of the archiver: monitoring.alerts.scheduleIntervalSeconds, or read
from `schedule` when it is every N minutes (a step in the minute field, every other field a
star), every minute, hourly (M and four stars, @hourly) or daily (M H and three stars, @daily). */}}
{{- define "ffmpeg.scheduleSeconds" -}}
{{- $s := trim .Values.schedule -}}
{{- if gt (int .Values.monitoring.alerts.scheduleIntervalSeconds) 0 -}}
{{- int .Values.monitoring.alerts.scheduleIntervalSeconds -}}
{{- else if regexMatch "^\\*/[0-9]+\\s+\\*\\s+\\*\\s+\\*\\s+\\*$" $s -}}
{{- mul 60 (int (regexFind "[0-9]+" $s)) -}}
{{- else if regexMatch "^\\*\\s+\\*\\s+\\*\\s+\\*\\s+\\*$" $s -}}
60
{{- else if or (eq $s "@hourly") (regexMatch "^[0-9]+\\s+\\*\\s+\\*\\s+\\*\\s+\\*$" $s) -}}
3600
{{- else if or (has $s (list "@daily" "@midnight")) (regexMatch "^[0-9]+\\s+[0-9]+\\s+\\*\\s+\\*\\s+\\*$" $s) -}}
86400
{{- else -}}
{{- fail (printf "monitoring.alerts.scheduleIntervalSeconds is required: the interval of schedule %q cannot be derived" $s) -}}
{{- end -}}
{{- end -}}

{{/* A number of seconds as a Prometheus duration: whole minutes as "Nm", else "Ns". */}}
{{- define "ffmpeg.duration" -}}
{{- $n := int . -}}
{{- if and (gt $n 0) (eq (mod $n 60) 0) -}}{{ div $n 60 }}m{{- else -}}{{ $n }}s{{- end -}}
{{- end -}}

{{/* The parameters of files/alert-rules.yaml, as YAML (every value a string). A value left at 0
or "" is derived from segmentTime's companions: the schedule interval I, the run deadline D
(activeDeadlineSeconds) and the job's finish grace G (120 s, FINISH_GRACE_SECONDS' default). */}}
{{- define "ffmpeg.alertParameters" -}}
{{- $a := .Values.monitoring.alerts -}}
{{- $i := int (include "ffmpeg.scheduleSeconds" .) -}}
{{- $d := int .Values.activeDeadlineSeconds -}}
{{- $g := 120 -}}
stream: {{ include "ffmpeg.streamLabel" . | quote }}
job: {{ .Values.monitoring.jobName | quote }}
runbook_url: {{ .Values.monitoring.runbookURL | quote }}
archive_stalled_slack_seconds: {{ (int $a.archiveStalled.slackSeconds) | default (add $g (mul 2 $i) $d) | toString | quote }}
archive_stalled_for: {{ $a.archiveStalled.for | default (include "ffmpeg.duration" $i) | quote }}
redundancy_lost_for: {{ $a.redundancyLost.for | quote }}
job_failing_no_success_seconds: {{ (int $a.jobFailing.noSuccessSeconds) | default (add (mul 3 $i) $d) | toString | quote }}
job_failing_errors_window: {{ $a.jobFailing.errorsWindow | default (include "ffmpeg.duration" (mul 3 $i)) | quote }}
job_failing_for: {{ $a.jobFailing.for | default (include "ffmpeg.duration" $i) | quote }}
backlog_segments: {{ $a.backlogGrowing.segments | toString | quote }}
backlog_slack_seconds: {{ (int $a.backlogGrowing.slackSeconds) | default (add $g $i $d) | toString | quote }}
backlog_for: {{ $a.backlogGrowing.for | default (include "ffmpeg.duration" $i) | quote }}
dead_air_seconds: {{ $a.deadAir.seconds | default .Values.silence.seconds | toString | quote }}
dead_air_for: {{ $a.deadAir.for | quote }}
gap_window: {{ $a.archiveGap.window | quote }}
disagree_window: {{ $a.replicasDisagree.window | quote }}
share_free_ratio: {{ $a.shareFillingUp.freeRatio | toString | quote }}
share_predict_window: {{ $a.shareFillingUp.predictWindow | quote }}
share_predict_hours: {{ $a.shareFillingUp.predictHours | toString | quote }}
share_for: {{ $a.shareFillingUp.for | quote }}
exporter_down_for: {{ $a.exporterDown.for | quote }}
{{- end -}}

{{/* files/alert-rules.yaml with its placeholders filled; fails on any left over. */}}
{{- define "ffmpeg.alertRules" -}}
{{- $text := .Files.Get "files/alert-rules.yaml" -}}
{{- range $k, $v := fromYaml (include "ffmpeg.alertParameters" .) -}}
{{- $text = replace (printf "${%s}" $k) (toString $v) $text -}}
{{- end -}}
{{- if contains "${" $text -}}
{{- fail (printf "files/alert-rules.yaml: a placeholder has no parameter: %s" (regexFind "\\$\\{[^}]*\\}" $text)) -}}
{{- end -}}
{{- $text -}}
{{- end -}}

{{/* Scrape settings shared by the ServiceMonitor and both PodMonitors: a fixed job label (the
alerts select it) and the stream label on the target, so `up` carries it; honorLabels keeps
the exporter's own `stream` label on its metrics instead of renaming it exported_stream. */}}
{{- define "ffmpeg.scrapeEndpoint" -}}
port: metrics
path: /metrics
scheme: http
interval: {{ .interval }}
scrapeTimeout: {{ .scrapeTimeout }}
honorLabels: true
relabelings:
  - action: replace
    targetLabel: job
    replacement: {{ .root.Values.monitoring.jobName | quote }}
  - action: replace
    targetLabel: stream
    replacement: {{ include "ffmpeg.streamLabel" .root | quote }}
{{- end -}}

{{/* Monitoring values that only make sense together. */}}
{{- define "ffmpeg.validateMonitoring" -}}
{{- $m := .Values.monitoring -}}
{{- if and (or $m.serviceMonitor.enabled $m.azurePodMonitor.enabled $m.prometheusRule.enabled) (not .Values.metrics.enabled) -}}
{{- fail "monitoring.serviceMonitor, monitoring.azurePodMonitor and monitoring.prometheusRule need metrics.enabled=true (they scrape and alert on the exporter)" -}}
{{- end -}}
{{- if and .Values.metrics.enabled (include "ffmpeg.workloadIdentity" .) -}}
{{- $_ := required "metrics.clientId is required with metrics.enabled and storageAuth=workloadIdentity (terraform output exporter_client_id: the exporter's own identity, read-only roles)" .Values.metrics.clientId -}}
{{- end -}}
{{- end -}}
