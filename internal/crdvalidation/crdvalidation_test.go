// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package crdvalidation_test

import (
	"context"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/internal/crdvalidation"
	"github.com/tokenguard/tokenguard/internal/crdvalidation/crdvalidationtest"
)

func newPolicy(t testing.TB, name, spec string) *v1alpha1.TokenPolicy {
	t.Helper()
	tp := &v1alpha1.TokenPolicy{}
	tp.Name, tp.Namespace = name, "default"
	if err := yaml.UnmarshalStrict([]byte(spec), &tp.Spec); err != nil {
		t.Fatal(err)
	}
	return tp
}

// The shared table, offline: the same messages as the API server's
// (controllers.TestCRDValidation runs the table on a real one).
func TestCases(t *testing.T) {
	for _, tc := range crdvalidationtest.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			err := crdvalidation.ValidatePolicy(context.Background(), newPolicy(t, "p", tc.Spec))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.Message) {
				t.Errorf("message:\n  %s\nwant it to contain:\n  %s", err, tc.Message)
			}
		})
	}
	if err := crdvalidation.ValidatePolicy(context.Background(), newPolicy(t, "valid", crdvalidationtest.Valid)); err != nil {
		t.Errorf("a valid policy was rejected: %v", err)
	}
}

func newIPList(t testing.TB, name, spec string) *v1alpha1.IPList {
	t.Helper()
	l := &v1alpha1.IPList{}
	l.Name, l.Namespace = name, "default"
	if err := yaml.UnmarshalStrict([]byte(spec), &l.Spec); err != nil {
		t.Fatal(err)
	}
	return l
}

// The IPList table, offline.
func TestListCases(t *testing.T) {
	for _, tc := range crdvalidationtest.ListCases {
		t.Run(tc.Name, func(t *testing.T) {
			err := crdvalidation.ValidateIPList(context.Background(), newIPList(t, "l", tc.Spec))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.Message) {
				t.Errorf("message:\n  %s\nwant it to contain:\n  %s", err, tc.Message)
			}
		})
	}
	if err := crdvalidation.ValidateIPList(context.Background(), newIPList(t, "valid", crdvalidationtest.ValidList)); err != nil {
		t.Errorf("a valid list was rejected: %v", err)
	}
	err := crdvalidation.ValidateIPList(context.Background(), newIPList(t, "l", `{entries: [nope]}`))
	if err == nil || !strings.HasPrefix(err.Error(), `IPList.policy.tokenguard.io "l" is invalid: `) {
		t.Errorf("kind in the error: %v", err)
	}
}

// The error names the object as the API server does, and lists every problem.
func TestMessage(t *testing.T) {
	err := crdvalidation.ValidatePolicy(context.Background(), newPolicy(t, "p", `{mode: Sometimes, geo: {blockedCountries: [kp]}}`))
	const want = `TokenPolicy.policy.tokenguard.io "p" is invalid: [spec.mode: Unsupported value: "Sometimes": supported values: "Enforce", "Audit", ` +
		`<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`
	if err == nil || err.Error() != want {
		t.Errorf("got\n  %v\nwant\n  %s", err, want)
	}
	err = crdvalidation.ValidatePolicy(context.Background(), newPolicy(t, "Not_A_Name", `{}`))
	if err == nil || !strings.Contains(err.Error(), `metadata.name: Invalid value: "Not_A_Name": a lowercase RFC 1123 subdomain`) {
		t.Errorf("name: %v", err)
	}
}

// Admit applies the schema's defaults, and rejects unknown and mistyped
// fields as kubectl's strict field validation does.
func TestAdmit(t *testing.T) {
	obj := map[string]any{
		"apiVersion": "policy.tokenguard.io/v1alpha1", "kind": "TokenPolicy",
		"metadata": map[string]any{"name": "p", "namespace": "default"},
		"spec": map[string]any{
			"clientIP":    map[string]any{},
			"abuseIPDB":   map[string]any{"apiKeySecretRef": map[string]any{"name": "s", "key": "k"}, "onFailure": map[string]any{}},
			"accessHours": map[string]any{"windows": []any{map[string]any{"start": "09:00", "end": "17:00"}}, "outside": map[string]any{"action": "Deny"}},
			"denial":      map[string]any{"descriptions": nil},
		},
	}
	if err := crdvalidation.Admit(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	b, _ := yaml.Marshal(obj["spec"])
	const want = `abuseIPDB:
  apiKeySecretRef:
    key: k
    name: s
  cacheTTLSeconds: 3600
  maxAgeInDays: 30
  onFailure:
    action: Deny
accessHours:
  outside:
    action: Deny
  timeZone: UTC
  windows:
  - end: "17:00"
    start: "09:00"
clientIP:
  header: x-client-source-ip
  onMissing: Deny
denial:
  failureReason: access_denied
mode: Enforce
`
	if string(b) != want {
		t.Errorf("defaulted spec:\n%s\nwant\n%s", b, want)
	}
	for name, tc := range map[string]struct {
		spec map[string]any
		want string
	}{
		"unknown field": {map[string]any{"colour": "blue", "geo": map[string]any{"blocked": []any{}}},
			`strict decoding error: unknown field "spec.colour", unknown field "spec.geo.blocked"`},
		"wrong type": {map[string]any{"abuseIPDB": map[string]any{"apiKeySecretRef": map[string]any{"name": "s", "key": "k"}, "deny": map[string]any{"scoreAbove": "high"}}},
			`spec.abuseIPDB.deny.scoreAbove: Invalid value: "string": spec.abuseIPDB.deny.scoreAbove in body must be of type integer: "string"`},
	} {
		obj := map[string]any{"apiVersion": "policy.tokenguard.io/v1alpha1", "kind": "TokenPolicy",
			"metadata": map[string]any{"name": "p", "namespace": "default"}, "spec": tc.spec}
		if err := crdvalidation.Admit(context.Background(), obj); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %s", name, err, tc.want)
		}
	}
}

func BenchmarkValidatePolicy(b *testing.B) {
	tp := newPolicy(b, "valid", crdvalidationtest.Valid)
	ctx := context.Background()
	if err := crdvalidation.ValidatePolicy(ctx, tp); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = crdvalidation.ValidatePolicy(ctx, tp)
	}
}
