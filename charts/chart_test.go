// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package charts_test renders the Helm chart with the helm binary built by
// hack/build-k8s-tools.sh and checks what its main toggles produce.
package charts_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/tokenguard/tokenguard/internal/testutil"
)

var chart = filepath.Join(testutil.RepoRoot(), "charts", "tokenguard")

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := os.Getenv("HELM")
	if bin == "" {
		bin = filepath.Join(testutil.RepoRoot(), "bin", "helm")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("helm not found at %s: run `make helm` (make test does)", bin)
	}
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...) //nolint:gosec // test
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), errors.New(errb.String())
	}
	return out.String(), nil
}

type rendered map[string]*unstructured.Unstructured // "Kind/name"

func render(t *testing.T, set ...string) rendered {
	t.Helper()
	args := []string{"template", "tg", chart, "--namespace", "tg-system", "--set", "actionEndpoint.auth.existingSecret=tg-auth"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := helm(t, args...)
	if err != nil {
		t.Fatalf("helm template %v: %v", set, err)
	}
	return decodeAll(t, out)
}

func (r rendered) deployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	u, ok := r["Deployment/tg-tokenguard"]
	if !ok {
		t.Fatal("no Deployment")
	}
	b, _ := yaml.Marshal(u.Object)
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict(b, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

func (r rendered) kinds() []string {
	var ks []string
	for k := range r {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestLint(t *testing.T) {
	if out, err := helm(t, "lint", "--strict", chart, "--set", "actionEndpoint.auth.existingSecret=x"); err != nil {
		t.Fatalf("%s %v", out, err)
	}
}

func TestDefaults(t *testing.T) {
	r := render(t)
	want := []string{"ClusterRole/tg-tokenguard", "ClusterRoleBinding/tg-tokenguard", "CustomResourceDefinition/tokenpolicies.policy.tokenguard.io",
		"Deployment/tg-tokenguard", "PodDisruptionBudget/tg-tokenguard", "Role/tg-tokenguard-leader-election",
		"RoleBinding/tg-tokenguard-leader-election", "Service/tg-tokenguard", "Service/tg-tokenguard-metrics", "ServiceAccount/tg-tokenguard"}
	if got := r.kinds(); !slices.Equal(got, want) {
		t.Errorf("objects:\n%v\nwant\n%v", got, want)
	}
	crd := r["CustomResourceDefinition/tokenpolicies.policy.tokenguard.io"]
	if crd.GetAnnotations()["helm.sh/resource-policy"] != "keep" || crd.GetAnnotations()["argocd.argoproj.io/sync-wave"] != "-1" {
		t.Errorf("CRD annotations %v", crd.GetAnnotations())
	}
	d := r.deployment(t)
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas %d", *d.Spec.Replicas)
	}
	ps := d.Spec.Template.Spec.SecurityContext
	if ps == nil || !*ps.RunAsNonRoot || ps.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("pod security context %+v", ps)
	}
	c := d.Spec.Template.Spec.Containers[0]
	sc := c.SecurityContext
	if !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container security context %+v", sc)
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("probes or resources missing")
	}
	for _, a := range []string{"--leader-elect=true", "--action-auth-config=/etc/tokenguard/action-auth/auth.yaml",
		"--geoip-database=/usr/share/tokenguard/geoip/dbip-country.mmdb"} {
		if !slices.Contains(c.Args, a) {
			t.Errorf("args %v lack %s", c.Args, a)
		}
	}
	if d.Spec.Template.Spec.Volumes[0].Secret.SecretName != "tg-auth" {
		t.Errorf("auth secret not mounted")
	}
}

// The chart's ClusterRole is the one the RBAC markers generate.
func TestRBACMatchesMarkers(t *testing.T) {
	r := render(t)
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role unstructured.Unstructured
	if err := yaml.Unmarshal(b, &role.Object); err != nil {
		t.Fatal(err)
	}
	got, _ := yaml.Marshal(r["ClusterRole/tg-tokenguard"].Object["rules"])
	want, _ := yaml.Marshal(role.Object["rules"])
	if !bytes.Equal(got, want) {
		t.Errorf("chart rules:\n%s\nmarkers:\n%s", got, want)
	}
	// Least privilege: Secrets are only read.
	rules, _, _ := unstructured.NestedSlice(r["ClusterRole/tg-tokenguard"].Object, "rules")
	for _, rule := range rules {
		m := rule.(map[string]any)
		res, _, _ := unstructured.NestedStringSlice(m, "resources")
		verbs, _, _ := unstructured.NestedStringSlice(m, "verbs")
		if slices.Contains(res, "secrets") && !slices.Equal(verbs, []string{"get", "list", "watch"}) {
			t.Errorf("secrets verbs %v", verbs)
		}
	}
}

func TestToggles(t *testing.T) {
	t.Run("no CRDs", func(t *testing.T) {
		if _, ok := render(t, "crds.enabled=false")["CustomResourceDefinition/tokenpolicies.policy.tokenguard.io"]; ok {
			t.Error("CRD rendered")
		}
	})
	t.Run("observability and network", func(t *testing.T) {
		r := render(t, "metrics.serviceMonitor.enabled=true", "networkPolicy.enabled=true", "podDisruptionBudget.maxUnavailable=1")
		for _, k := range []string{"ServiceMonitor/tg-tokenguard", "NetworkPolicy/tg-tokenguard"} {
			if _, ok := r[k]; !ok {
				t.Errorf("%s missing", k)
			}
		}
		spec := r["PodDisruptionBudget/tg-tokenguard"].Object["spec"].(map[string]any)
		if fmt.Sprint(spec["maxUnavailable"]) != "1" || spec["minAvailable"] != nil {
			t.Errorf("PDB spec %v", spec)
		}
	})
	t.Run("exposed over TLS with cert-manager", func(t *testing.T) {
		r := render(t, "ingress.enabled=true", "ingress.host=tg.example.com", "actionEndpoint.tls.enabled=true",
			"actionEndpoint.tls.secretName=tg-tls", "actionEndpoint.tls.certificate.enabled=true", "actionEndpoint.tls.certificate.issuerRef.name=letsencrypt")
		ing, cert := r["Ingress/tg-tokenguard"], r["Certificate/tg-tokenguard"]
		if ing == nil || cert == nil {
			t.Fatalf("objects %v", r.kinds())
		}
		names, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
		if !slices.Equal(names, []string{"tg.example.com", "tg-tokenguard.tg-system.svc"}) {
			t.Errorf("dnsNames %v", names)
		}
		args := r.deployment(t).Spec.Template.Spec.Containers[0].Args
		if !slices.Contains(args, "--action-tls-cert-file=/etc/tokenguard/tls/tls.crt") {
			t.Errorf("args %v", args)
		}
	})
	t.Run("geoipupdate", func(t *testing.T) {
		r := render(t, "geoip.source=geoipupdate", "geoip.geoipupdate.accountID=12345", "geoip.geoipupdate.licenseKeySecret=maxmind",
			"geoip.geoipupdate.editionIDs={GeoLite2-Country,GeoLite2-City}")
		ps := r.deployment(t).Spec.Template.Spec
		if len(ps.InitContainers) != 1 || len(ps.Containers) != 2 || ps.Containers[1].Name != "geoipupdate" {
			t.Fatalf("containers %d init %d", len(ps.Containers), len(ps.InitContainers))
		}
		args := ps.Containers[0].Args
		for _, a := range []string{"--geoip-database=/var/lib/geoip/GeoLite2-Country.mmdb", "--geoip-database=/var/lib/geoip/GeoLite2-City.mmdb"} {
			if !slices.Contains(args, a) {
				t.Errorf("args %v lack %s", args, a)
			}
		}
		if *ps.Containers[1].SecurityContext.RunAsUser != 65532 || !*ps.Containers[1].SecurityContext.ReadOnlyRootFilesystem {
			t.Errorf("sidecar security context %+v", ps.Containers[1].SecurityContext)
		}
	})
	t.Run("watch namespaces", func(t *testing.T) {
		r := render(t, "watchNamespaces={team-a,team-b}")
		if _, ok := r["ClusterRoleBinding/tg-tokenguard"]; ok {
			t.Error("cluster-wide binding with namespaces listed")
		}
		args := r.deployment(t).Spec.Template.Spec.Containers[0].Args
		if !slices.Contains(args, "--watch-namespace=team-b") {
			t.Errorf("args %v", args)
		}
	})
}

func TestRefusedValues(t *testing.T) {
	cases := map[string]struct {
		set []string
		err string
	}{
		"no auth secret":       {[]string{"actionEndpoint.auth.existingSecret="}, "actionEndpoint.auth.existingSecret is required"},
		"zero replicas":        {[]string{"replicaCount=0"}, "/replicaCount"},
		"unknown geoip source": {[]string{"geoip.source=cdn"}, "/geoip/source"},
		"typo in a value":      {[]string{"replicaCont=3"}, "additional properties 'replicaCont' not allowed"},
		"geoipupdate no key":   {[]string{"geoip.source=geoipupdate", "geoip.geoipupdate.accountID=1"}, "licenseKeySecret is required"},
		"tls without secret":   {[]string{"actionEndpoint.tls.enabled=true"}, "actionEndpoint.tls.secretName is required"},
	}
	for name, tc := range cases {
		args := []string{"template", "tg", chart, "--set", "actionEndpoint.auth.existingSecret=a"}
		for _, s := range tc.set {
			args = append(args, "--set", s)
		}
		if _, err := helm(t, args...); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err %v, want %q", name, err, tc.err)
		}
	}
}
