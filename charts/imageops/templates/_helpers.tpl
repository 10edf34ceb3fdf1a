{{/* The release's base name, at most 63 characters (a DNS label). */}}
{{- define "imageops.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
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
