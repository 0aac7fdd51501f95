{{/* Full name of the release's objects. */}}
{{- define "tokenguard.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tokenguard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{ include "tokenguard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "tokenguard.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tokenguard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tokenguard.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "tokenguard.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The GeoIP database paths passed to tokenguard: geoipupdate's ASN and ISP editions go to tokenguard.asnFiles. */}}
{{- define "tokenguard.geoipFiles" -}}
{{- if eq .Values.geoip.source "embedded" -}}
/usr/share/tokenguard/geoip/dbip-country.mmdb
{{- else if eq .Values.geoip.source "geoipupdate" -}}
{{- range .Values.geoip.geoipupdate.editionIDs }}
{{- if not (regexMatch "-(ASN|ISP)$" .) }}
/var/lib/geoip/{{ . }}.mmdb
{{- end -}}
{{- end -}}
{{- else -}}
{{- range .Values.geoip.volume.files }}
/var/lib/geoip/{{ . }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The ASN database paths passed to tokenguard: geoipupdate's ASN and ISP editions first (MaxMind's data wins), then the embedded default. */}}
{{- define "tokenguard.asnFiles" -}}
{{- if eq .Values.geoip.source "geoipupdate" -}}
{{- range .Values.geoip.geoipupdate.editionIDs }}
{{- if regexMatch "-(ASN|ISP)$" . }}
/var/lib/geoip/{{ . }}.mmdb
{{- end -}}
{{- end -}}
{{- end -}}
{{- if .Values.asn.embedded }}
/usr/share/tokenguard/asn/asn.mmdb
{{- end -}}
{{- end -}}

{{- define "tokenguard.geoipupdateEnv" -}}
- name: GEOIPUPDATE_ACCOUNT_ID
  value: {{ required "geoip.geoipupdate.accountID is required with geoip.source=geoipupdate" .Values.geoip.geoipupdate.accountID | quote }}
- name: GEOIPUPDATE_LICENSE_KEY_FILE
  value: /etc/geoipupdate/license-key
- name: GEOIPUPDATE_EDITION_IDS
  value: {{ join " " .Values.geoip.geoipupdate.editionIDs | quote }}
- name: GEOIPUPDATE_DB_DIR
  value: /var/lib/geoip
{{- end -}}

{{/*
The namespaces watched, as a JSON list: watchNamespaces, or the release
namespace alone when it is empty; none (every namespace) with
watchAllNamespaces.
*/}}
{{- define "tokenguard.watchNamespaces" -}}
{{- if .Values.watchAllNamespaces -}}
{{- list | toJson -}}
{{- else -}}
{{- default (list .Release.Namespace) .Values.watchNamespaces | toJson -}}
{{- end -}}
{{- end -}}

{{/*
A shutdown duration in whole seconds: "5s", "5" or 5. Called with a list of
the value's name and the value, so a bad value is named when refused.
*/}}
{{- define "tokenguard.seconds" -}}
{{- $name := index . 0 -}}
{{- $v := toString (index . 1) -}}
{{- if not (regexMatch "^[0-9]+s?$" $v) -}}
{{- fail (printf "%s must be whole seconds, like \"5s\" or 5; got %q" $name $v) -}}
{{- end -}}
{{- trimSuffix "s" $v | atoi -}}
{{- end -}}
