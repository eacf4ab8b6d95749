{{- define "kce.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kce.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "kce.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "kce.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "kce.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kce.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kce.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "kce.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The chart mounts each of .Values.existingSecrets here, one directory per Secret. */}}
{{- define "kce.secretsDir" -}}/etc/kafka-cluster-exporter/secrets{{- end }}

{{/*
Passwords belong in Secrets: fail the render when the exporter's config holds one inline (it would land in a
ConfigMap). Use the *_file settings with a Secret from existingSecrets, or ${ENV} with extraEnv/valueFrom.
*/}}
{{- define "kce.noInlinePasswords" -}}
{{- range $i, $c := .Values.config.clusters }}
{{- range $key := list "sasl.password" "ssl.key.password" }}
{{- if and $c.client (hasKey $c.client $key) (not (contains "${" (toString (index $c.client $key)))) }}
{{- fail (printf "config.clusters[%d].client.%s: do not write a password in the config (it is stored in a ConfigMap); mount a Secret with existingSecrets and set %s_file: %s/SECRET/KEY" $i $key $key (include "kce.secretsDir" $)) }}
{{- end }}
{{- end }}
{{- with $c.zookeeper }}
{{- if and .sasl (hasKey .sasl "password") (not (contains "${" (toString .sasl.password))) }}
{{- fail (printf "config.clusters[%d].zookeeper.sasl.password: do not write a password in the config; use password_file with existingSecrets" $i) }}
{{- end }}
{{- if and .tls (hasKey .tls "key_password") (not (contains "${" (toString .tls.key_password))) }}
{{- fail (printf "config.clusters[%d].zookeeper.tls.key_password: do not write a password in the config; use key_password_file with existingSecrets" $i) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
