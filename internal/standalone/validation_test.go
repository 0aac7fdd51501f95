// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package standalone_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"

	"github.com/tokenguard/tokenguard/internal/crdvalidation/crdvalidationtest"
	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/standalone"
)

func policyFile(name, spec string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: policy.tokenguard.io/v1alpha1\nkind: TokenPolicy\nmetadata: {name: %s}\nspec:\n", name)
	for _, line := range strings.Split(strings.TrimSpace(spec), "\n") {
		b.WriteString("  " + line + "\n")
	}
	return b.String()
}

// The shared table of spec rules, through policy files: what `tokenguard
// validate` and the service report is the API server's message
// (controllers.TestCRDValidation runs the same table on a real one).
func TestPolicyFileValidation(t *testing.T) {
	dir := t.TempDir()
	load := func(name, spec string) error {
		p := filepath.Join(dir, name+".yaml")
		write(t, p, policyFile(name, spec))
		l := &standalone.Loader{Paths: []string{p}, Store: policy.NewStore(), Log: logr.Discard(), AbuseIPDBDisabled: true}
		return l.Load(context.Background())
	}
	for i, tc := range crdvalidationtest.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			err := load(fmt.Sprintf("v%d", i), tc.Spec)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.Message) {
				t.Errorf("message:\n  %s\nwant it to contain:\n  %s", err, tc.Message)
			}
		})
	}
	// The lists the valid policy names, beside it.
	p := filepath.Join(dir, "valid.yaml")
	write(t, p, policyFile("valid", crdvalidationtest.Valid)+listFile("office", "entries: [203.0.113.0/24]")+
		listFile("tor-exits", "entries: [185.220.101.1]")+listFile("firehol.level1", "entries: [192.0.2.0/24]"))
	l := &standalone.Loader{Paths: []string{p}, Store: policy.NewStore(), Log: logr.Discard(), AbuseIPDBDisabled: true}
	if err := l.Load(context.Background()); err != nil {
		t.Errorf("a valid policy was rejected: %v", err)
	}
	// The IPList table, as policy files are read.
	for _, tc := range crdvalidationtest.ListCases {
		t.Run("IPList "+tc.Name, func(t *testing.T) {
			_, _, err := standalone.DecodeAll(strings.NewReader(listFile("l", tc.Spec)), "l.yaml")
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.Message) {
				t.Errorf("message:\n  %s\nwant it to contain:\n  %s", err, tc.Message)
			}
		})
	}
	if _, lists, err := standalone.DecodeAll(strings.NewReader(listFile("valid", crdvalidationtest.ValidList)), "l.yaml"); err != nil || len(lists) != 1 {
		t.Errorf("a valid list was rejected: %v", err)
	}
}

// listFile is an IPList document, after a separator.
func listFile(name, spec string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "---\napiVersion: policy.tokenguard.io/v1alpha1\nkind: IPList\nmetadata: {name: %s}\nspec:\n", name)
	for _, line := range strings.Split(strings.TrimSpace(spec), "\n") {
		b.WriteString("  " + line + "\n")
	}
	return b.String()
}

// Decode applies the CRD's defaults, as the API server does.
func TestDecodeDefaults(t *testing.T) {
	tps, err := standalone.Decode(strings.NewReader(policyFile("d", `{clientIP: {}, denial: {}, accessHours: {windows: [{start: "09:00", end: "17:00"}], outside: {action: Deny}}}`)), "d.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := tps[0].Spec
	if tps[0].Namespace != "default" || s.Mode != "Enforce" || s.ClientIP.Header != "x-client-source-ip" || s.ClientIP.OnMissing != "Deny" ||
		s.Denial.FailureReason != "access_denied" || s.AccessHours.TimeZone != "UTC" || s.Geo != nil {
		t.Errorf("%s: %+v", tps[0].Namespace, s)
	}
}
