// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package v1alpha1 holds the TokenPolicy API, group policy.tokenguard.io.
// +kubebuilder:object:generate=true
// +groupName=policy.tokenguard.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the TokenPolicy API.
	GroupVersion = schema.GroupVersion{Group: "policy.tokenguard.io", Version: "v1alpha1"}

	// SchemeBuilder registers the API types with a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the API types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
