{{/* Chart name, truncated to the 63 characters Kubernetes allows in names. */}}
{{- define "seatmeter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-chart unless the release name already contains the chart name. */}}
{{- define "seatmeter.fullname" -}}
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

{{- define "seatmeter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "seatmeter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "seatmeter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "seatmeter.labels" -}}
helm.sh/chart: {{ include "seatmeter.chart" . }}
{{ include "seatmeter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: seatmeter
{{- end }}

{{/* Labels of the worker pods (selector labels plus the component). */}}
{{- define "seatmeter.workerSelectorLabels" -}}
{{ include "seatmeter.selectorLabels" . }}
app.kubernetes.io/component: worker
{{- end }}

{{- define "seatmeter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "seatmeter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "seatmeter.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The Secret holding the warehouse password, and its key. */}}
{{- define "seatmeter.secretName" -}}
{{- if .Values.warehouse.existingSecret }}
{{- .Values.warehouse.existingSecret }}
{{- else }}
{{- include "seatmeter.fullname" . }}
{{- end }}
{{- end }}

{{- define "seatmeter.secretKey" -}}
{{- if .Values.warehouse.existingSecret }}
{{- .Values.warehouse.existingSecretPasswordKey }}
{{- else -}}
password
{{- end }}
{{- end }}

{{/*
Non-secret configuration as KEY: "value" lines. The ConfigMap's data is exactly this, and the
migrate hook Job (which runs before the ConfigMap exists on first install) gets the same as env.
*/}}
{{- define "seatmeter.config" -}}
SEATMETER_KAFKA__BOOTSTRAP_SERVERS: {{ required "kafka.bootstrapServers is required" .Values.kafka.bootstrapServers | quote }}
SEATMETER_KAFKA__AGENT_TOPIC: {{ .Values.kafka.agentTopic | quote }}
SEATMETER_KAFKA__TOPIC_PARTITIONS: {{ .Values.kafka.topicPartitions | quote }}
SEATMETER_KAFKA__REPLICATION_FACTOR: {{ .Values.kafka.replicationFactor | quote }}
SEATMETER_WAREHOUSE__URL: {{ required "warehouse.url is required" .Values.warehouse.url | quote }}
SEATMETER_WAREHOUSE__USERNAME: {{ .Values.warehouse.username | quote }}
SEATMETER_WAREHOUSE__DATABASE: {{ .Values.warehouse.database | quote }}
SEATMETER_WORKER__DATA_DIR: {{ .Values.worker.dataDir | quote }}
SEATMETER_WORKER__LOG_LEVEL: {{ .Values.worker.logLevel | quote }}
SEATMETER_METRICS__PORT: {{ .Values.metrics.port | quote }}
SEATMETER_METRICS__HOST: {{ .Values.metrics.host | quote }}
{{- end }}

{{/* Kafka security as env entries for the workers (nothing for PLAINTEXT). */}}
{{- define "seatmeter.kafkaSecurityEnv" -}}
{{- $s := .Values.kafka.security }}
{{- if ne $s.protocol "PLAINTEXT" }}
- name: SEATMETER_KAFKA__SECURITY_PROTOCOL
  value: {{ $s.protocol | quote }}
{{- end }}
{{- if hasPrefix "SASL_" $s.protocol }}
- name: SEATMETER_KAFKA__SASL_MECHANISM
  value: {{ $s.saslMechanism | quote }}
- name: SEATMETER_KAFKA__SASL_USERNAME
  value: {{ required "kafka.security.saslUsername is required with SASL" $s.saslUsername | quote }}
- name: SEATMETER_KAFKA__SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ required "kafka.security.saslPasswordSecret is required with SASL" $s.saslPasswordSecret }}
      key: {{ $s.saslPasswordSecretKey }}
{{- end }}
{{- if $s.tlsSecret }}
- name: SEATMETER_KAFKA__SSL_CAFILE
  value: {{ printf "/etc/seatmeter/kafka-tls/%s" $s.tlsCaKey | quote }}
{{- if $s.tlsClientCertificate }}
- name: SEATMETER_KAFKA__SSL_CERTFILE
  value: /etc/seatmeter/kafka-tls/tls.crt
- name: SEATMETER_KAFKA__SSL_KEYFILE
  value: /etc/seatmeter/kafka-tls/tls.key
{{- end }}
{{- end }}
{{- end }}

{{/* The password as an env entry, read from the chart's Secret or the existing one. */}}
{{- define "seatmeter.passwordEnv" -}}
- name: SEATMETER_WAREHOUSE__PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "seatmeter.secretName" . }}
      key: {{ include "seatmeter.secretKey" . }}
{{- end }}

{{/* The pseudonymization key as env entries, from privacy.existingSecret or the chart's Secret. */}}
{{- define "seatmeter.pseudonymKeyEnv" -}}
- name: SEATMETER_PRIVACY__PSEUDONYM_KEY
  valueFrom:
    secretKeyRef:
      {{- if .Values.privacy.existingSecret }}
      name: {{ .Values.privacy.existingSecret }}
      key: {{ .Values.privacy.existingSecretKey }}
      {{- else }}
      name: {{ include "seatmeter.fullname" . }}
      key: pseudonym-key
      {{- end }}
- name: SEATMETER_PRIVACY__PSEUDONYM_KEY_ID
  value: {{ .Values.privacy.pseudonymKeyId | quote }}
{{- end }}

{{/*
The pseudonymization key the chart's Secret holds: privacy.pseudonymKey, else the key already in
the release's Secret (upgrades), else a new random one (first install).
*/}}
{{- define "seatmeter.pseudonymKey" -}}
{{- if .Values.privacy.pseudonymKey }}
{{- .Values.privacy.pseudonymKey }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "seatmeter.fullname" .) }}
{{- if and $existing (index ($existing.data | default dict) "pseudonym-key") }}
{{- index $existing.data "pseudonym-key" | b64dec }}
{{- else }}
{{- randAlphaNum 64 }}
{{- end }}
{{- end }}
{{- end }}

{{/* Whether the chart makes its own Secret (for the password, the pseudonym key, or both). */}}
{{- define "seatmeter.ownSecret" -}}
{{- if or (not .Values.warehouse.existingSecret) (not .Values.privacy.existingSecret) }}true{{ end }}
{{- end }}
