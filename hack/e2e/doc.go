// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package e2e holds the end-to-end test (build tag e2e, run by make test-e2e):
// the install manifests applied to a real kube-apiserver, and the built
// tokenguard binary run out of cluster against it.
package e2e
