{{/* The release's base name, at most 63 characters (a DNS label). Helm allows dots in release
names; the API server warns on a Deployment named with one (it becomes pod hostnames). */}}
{{- define "imageops.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | replace "." "-" | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | replace "." "-" | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* A Service's name is a DNS-1035 label: at most 63 characters, starting with a letter, which a
release name (up to 53, may start with a digit) plus "-imageops-metrics" is not always. */}}
{{- define "imageops.metricsServiceName" -}}
{{- $base := include "imageops.fullname" . -}}
{{- if not (regexMatch "^[a-z]" $base) -}}
{{- $base = printf "%s-%s" .Chart.Name $base -}}
{{- end -}}
{{- printf "%s-metrics" ($base | trunc 55 | trimSuffix "-") -}}
{{- end -}}

{{- define "imageops.selectorLabels" -}}
app.kubernetes.io/name: imageops-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "imageops.labels" -}}
{{ include "imageops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "imageops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "imageops.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* One watched namespace means namespaced RBAC (Role); none or several need a ClusterRole. */}}
{{- define "imageops.namespaced" -}}
{{- if eq (len .Values.watchNamespaces) 1 -}}true{{- end -}}
{{- end -}}
