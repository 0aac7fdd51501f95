// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/internal/crdvalidation/crdvalidationtest"
)

// The CRD's own validation, on the real API server: each invalid spec of
// the shared table is rejected with the message users see from kubectl.
// internal/crdvalidation and standalone mode run the same table offline.
func TestCRDValidation(t *testing.T) {
	ctx := context.Background()
	ns := createNamespace(t, "validation")
	for i, tc := range crdvalidationtest.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			err := k8sClient.Create(ctx, newPolicy(ns, fmt.Sprintf("v%d", i), tc.Spec))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.Message) {
				t.Errorf("message:\n  %s\nwant it to contain:\n  %s", err, tc.Message)
			}
		})
	}
	// And a valid one with every field is accepted.
	if err := k8sClient.Create(ctx, newPolicy(ns, "valid", crdvalidationtest.Valid)); err != nil {
		t.Errorf("a valid policy was rejected: %v", err)
	}
	for i, tc := range crdvalidationtest.ListCases {
		t.Run("IPList "+tc.Name, func(t *testing.T) {
			err := k8sClient.Create(ctx, newIPList(ns, fmt.Sprintf("l%d", i), tc.Spec))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.Message) {
				t.Errorf("message:\n  %s\nwant it to contain:\n  %s", err, tc.Message)
			}
		})
	}
	if err := k8sClient.Create(ctx, newIPList(ns, "valid", crdvalidationtest.ValidList)); err != nil {
		t.Errorf("a valid list was rejected: %v", err)
	}
}
