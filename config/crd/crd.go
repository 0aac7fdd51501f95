// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package crd embeds the CustomResourceDefinitions that `make manifests`
// generates from the markers in api/v1alpha1, so the binary checks policy
// files against exactly the schemas the API server enforces (see
// internal/crdvalidation).
package crd

import _ "embed"

// TokenPolicies is config/crd/bases/policy.tokenguard.io_tokenpolicies.yaml.
//
//go:embed bases/policy.tokenguard.io_tokenpolicies.yaml
var TokenPolicies []byte

// IPLists is config/crd/bases/policy.tokenguard.io_iplists.yaml.
//
//go:embed bases/policy.tokenguard.io_iplists.yaml
var IPLists []byte
