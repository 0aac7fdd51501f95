// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Reasons of an IPList's Ready condition.
const (
	// ReasonLoaded: every source loaded; the list is served as it is now.
	ReasonLoaded = "Loaded"
	// ReasonFetchFailed: the URL did not answer, answered an error, timed
	// out or answered no entries. The previous content is served; the
	// message says since when the fetches fail.
	ReasonFetchFailed = "FetchFailed"
	// ReasonConfigMapNotFound: a referenced ConfigMap or key does not exist.
	ReasonConfigMapNotFound = "ConfigMapNotFound"
	// ReasonInvalidEntries: a source holds a line that is not an address,
	// network or range; the message names the first one.
	ReasonInvalidEntries = "InvalidEntries"
	// ReasonTooLarge: the URL's answer is larger than maxBytes.
	ReasonTooLarge = "TooLarge"
	// ReasonFileNotSupported: a file source in Kubernetes, where only
	// standalone mode reads files. The list does not load.
	ReasonFileNotSupported = "FileNotSupported"
	// ReasonFileUnreadable: a file source cannot be read (standalone).
	ReasonFileUnreadable = "FileUnreadable"
	// ReasonReadFailed: the API server did not answer a read of a
	// ConfigMap; retried within seconds.
	ReasonReadFailed = "ReadFailed"
)

// IPListEntry is one address, network in CIDR notation, or range of
// addresses of one family written first-last.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=81
// +kubebuilder:validation:XValidation:rule="isIP(self) || isCIDR(self) || (self.split('-').size() == 2 && isIP(self.split('-')[0]) && isIP(self.split('-')[1]) && ip(self.split('-')[0]).family() == ip(self.split('-')[1]).family())",message="must be an address (192.0.2.1), a network in CIDR notation (192.0.2.0/24) or a range of addresses of one family (192.0.2.10-192.0.2.20)"
type IPListEntry string

// IPListName is the name of an IPList in the policy's namespace.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
type IPListName string

// ConfigMapKeyRef names a key in a ConfigMap in the IPList's namespace.
type ConfigMapKeyRef struct {
	// name is the ConfigMap's name, in the IPList's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// key is the key within the ConfigMap's data or binaryData.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +required
	Key string `json:"key"`
}

// IPListURL is a list fetched over HTTP(S) and refreshed.
type IPListURL struct {
	// url is an http or https URL answering the list in the line format,
	// or a JSON document such as a cloud provider's published ranges.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",message="must be an http or https URL, such as https://check.torproject.org/torbulkexitlist"
	// +required
	URL string `json:"url"`

	// refreshIntervalSeconds is how often every replica fetches the list
	// again, 60 to 604800 (a week). After a failed fetch it retries
	// sooner: after 15 s, doubling, up to the interval.
	// +kubebuilder:validation:Minimum=60
	// +kubebuilder:validation:Maximum=604800
	// +kubebuilder:default=3600
	// +optional
	RefreshIntervalSeconds int32 `json:"refreshIntervalSeconds,omitempty"`

	// maxBytes bounds the answer, 1 KiB to 256 MiB; a larger one fails
	// (TooLarge) as soon as the limit is passed while reading.
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=268435456
	// +kubebuilder:default=16777216
	// +optional
	MaxBytes int64 `json:"maxBytes,omitempty"`

	// timeoutSeconds bounds one fetch, 1 to 120.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=120
	// +kubebuilder:default=30
	// +optional
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
}

// IPListSpec lists where the list's addresses and networks come from. The
// sources are united; set at least one. Each source holds one address,
// network (CIDR) or range (first-last) per line, with # and ; comments, or
// is a JSON document (a cloud provider's ranges: AWS ip-ranges.json,
// Google cloud.json, Azure service tags) whose every string value that is
// an address, network or range is an entry.
// +kubebuilder:validation:XValidation:rule="has(self.entries) || has(self.configMaps) || has(self.url) || has(self.file)",message="set at least one source: entries, configMaps, url or file"
type IPListSpec struct {
	// entries are addresses, networks and ranges written in the list.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1000
	// +listType=set
	// +optional
	Entries []IPListEntry `json:"entries,omitempty"`

	// configMaps are keys of ConfigMaps in the list's namespace, each
	// holding part of the list; a ConfigMap holds at most 1 MiB (about
	// 60,000 networks), so split a large list over several.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=name
	// +listMapKey=key
	// +optional
	ConfigMaps []ConfigMapKeyRef `json:"configMaps,omitempty"`

	// url is a list every replica fetches and refreshes, such as a FireHOL
	// netset, the Tor bulk exit list or AWS's ip-ranges.json.
	// +optional
	URL *IPListURL `json:"url,omitempty"`

	// file is a path to a list file, read in standalone mode only (relative
	// to the policy file's directory). In Kubernetes the list does not
	// load (FileNotSupported): use configMaps.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	File string `json:"file,omitempty"`
}

// IPListStatus reports what the list holds.
type IPListStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// entries is the number of distinct networks served (a range counts as
	// the networks it converts to).
	// +optional
	Entries int64 `json:"entries,omitempty"`

	// lastSuccessfulFetch is when every source last loaded: for a URL, its
	// last successful fetch (an unchanged list included).
	// +optional
	LastSuccessfulFetch *metav1.Time `json:"lastSuccessfulFetch,omitempty"`

	// conditions: Ready is True when every source loaded in the latest pass.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// IPList is a list of addresses and networks that TokenPolicies in its
// namespace name in networks.trustedLists and networks.blockedLists.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ipl,categories=tokenguard
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Entries",type=integer,JSONPath=`.status.entries`
// +kubebuilder:printcolumn:name="Last Fetch",type=date,JSONPath=`.status.lastSuccessfulFetch`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type IPList struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec lists the sources.
	// +required
	Spec IPListSpec `json:"spec"`

	// status is written by the controller.
	// +optional
	Status IPListStatus `json:"status,omitempty"`
}

// IPListList is a list of IPLists.
// +kubebuilder:object:root=true
type IPListList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IPList `json:"items"`
}
