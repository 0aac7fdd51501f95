// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package v1alpha1 holds the TokenPolicy and IPList API, group policy.tokenguard.io.
// +kubebuilder:object:generate=true
// +groupName=policy.tokenguard.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of the TokenPolicy API.
	GroupVersion = schema.GroupVersion{Group: "policy.tokenguard.io", Version: "v1alpha1"}

	// SchemeBuilder registers the API types with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the API types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &TokenPolicy{}, &TokenPolicyList{}, &IPList{}, &IPListList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
