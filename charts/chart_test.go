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

type rendered map[string]*unstructured.Unstructured // "Kind/name", or "Kind/namespace/name" when namespaced

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
	u, ok := r["Deployment/tg-system/tg-tokenguard"]
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
	want := []string{"CustomResourceDefinition/iplists.policy.tokenguard.io", "CustomResourceDefinition/tokenpolicies.policy.tokenguard.io",
		"Deployment/tg-system/tg-tokenguard", "PodDisruptionBudget/tg-system/tg-tokenguard",
		"Role/tg-system/tg-tokenguard", "Role/tg-system/tg-tokenguard-leader-election",
		"RoleBinding/tg-system/tg-tokenguard", "RoleBinding/tg-system/tg-tokenguard-leader-election",
		"Service/tg-system/tg-tokenguard", "Service/tg-system/tg-tokenguard-metrics", "ServiceAccount/tg-system/tg-tokenguard"}
	if got := r.kinds(); !slices.Equal(got, want) {
		t.Errorf("objects:\n%v\nwant\n%v", got, want)
	}
	for _, name := range []string{"tokenpolicies", "iplists"} {
		crd := r["CustomResourceDefinition/"+name+".policy.tokenguard.io"]
		if crd.GetAnnotations()["helm.sh/resource-policy"] != "keep" || crd.GetAnnotations()["argocd.argoproj.io/sync-wave"] != "-1" ||
			crd.GetLabels()["app.kubernetes.io/name"] == "" {
			t.Errorf("%s CRD annotations %v, labels %v", name, crd.GetAnnotations(), crd.GetLabels())
		}
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
		"--geoip-database=/usr/share/tokenguard/geoip/dbip-country.mmdb", "--asn-database=/usr/share/tokenguard/asn/asn.mmdb", "--watch-namespace=tg-system",
		"--shutdown-drain-period=5s", "--shutdown-timeout=20s"} {
		if !slices.Contains(c.Args, a) {
			t.Errorf("args %v lack %s", c.Args, a)
		}
	}
	if d.Spec.Template.Spec.Volumes[0].Secret.SecretName != "tg-auth" {
		t.Errorf("auth secret not mounted")
	}
}

// The chart's rules, in the default Role and in the cluster-wide ClusterRole,
// are the ones the RBAC markers generate, and Secrets are only read.
func TestRBACMatchesMarkers(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role unstructured.Unstructured
	if err := yaml.Unmarshal(b, &role.Object); err != nil {
		t.Fatal(err)
	}
	want, _ := yaml.Marshal(role.Object["rules"])
	for key, obj := range map[string]*unstructured.Unstructured{
		"Role/tg-system/tg-tokenguard": render(t)["Role/tg-system/tg-tokenguard"],
		"ClusterRole/tg-tokenguard":    render(t, "watchAllNamespaces=true")["ClusterRole/tg-tokenguard"],
	} {
		if obj == nil {
			t.Fatalf("%s not rendered", key)
		}
		got, _ := yaml.Marshal(obj.Object["rules"])
		if !bytes.Equal(got, want) {
			t.Errorf("%s rules:\n%s\nmarkers:\n%s", key, got, want)
		}
		rules, _, _ := unstructured.NestedSlice(obj.Object, "rules")
		for _, rule := range rules {
			m := rule.(map[string]any)
			res, _, _ := unstructured.NestedStringSlice(m, "resources")
			verbs, _, _ := unstructured.NestedStringSlice(m, "verbs")
			if slices.Contains(res, "secrets") && !slices.Equal(verbs, []string{"get", "list", "watch"}) {
				t.Errorf("%s secrets verbs %v", key, verbs)
			}
		}
	}
}

// Where the operator may read Secrets: by default only in the namespaces it
// watches, each with a Role, a RoleBinding and a --watch-namespace flag; in
// every namespace only when asked. Leader election keeps its own Role in the
// release namespace either way.
func TestWatchNamespaces(t *testing.T) {
	cases := map[string]struct {
		set        []string
		namespaces []string // Role, RoleBinding and --watch-namespace in each
		cluster    bool     // ClusterRole and ClusterRoleBinding
	}{
		"default: the release namespace": {nil, []string{"tg-system"}, false},
		"listed namespaces":              {[]string{"watchNamespaces={team-a,team-b}"}, []string{"team-a", "team-b"}, false},
		"every namespace":                {[]string{"watchAllNamespaces=true"}, nil, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := render(t, tc.set...)
			var roles, bindings []string
			for key, obj := range r {
				switch {
				case strings.HasPrefix(key, "ClusterRole") && !tc.cluster:
					t.Errorf("%s rendered", key)
				case strings.HasPrefix(key, "Role/") && !strings.HasSuffix(key, "-leader-election"):
					roles = append(roles, obj.GetNamespace())
				case strings.HasPrefix(key, "RoleBinding/") && !strings.HasSuffix(key, "-leader-election"):
					bindings = append(bindings, obj.GetNamespace())
					checkBinding(t, obj, "Role")
				}
			}
			slices.Sort(roles)
			slices.Sort(bindings)
			if !slices.Equal(roles, tc.namespaces) || !slices.Equal(bindings, tc.namespaces) {
				t.Errorf("Roles in %v, RoleBindings in %v, want %v", roles, bindings, tc.namespaces)
			}
			var watched []string
			for _, a := range r.deployment(t).Spec.Template.Spec.Containers[0].Args {
				if ns, ok := strings.CutPrefix(a, "--watch-namespace="); ok {
					watched = append(watched, ns)
				}
			}
			if !slices.Equal(watched, tc.namespaces) {
				t.Errorf("--watch-namespace %v, want %v", watched, tc.namespaces)
			}
			if tc.cluster {
				if r["ClusterRole/tg-tokenguard"] == nil || r["ClusterRoleBinding/tg-tokenguard"] == nil {
					t.Fatalf("no ClusterRole and ClusterRoleBinding: %v", r.kinds())
				}
				checkBinding(t, r["ClusterRoleBinding/tg-tokenguard"], "ClusterRole")
			}
			lease := r["Role/tg-system/tg-tokenguard-leader-election"]
			if lease == nil || r["RoleBinding/tg-system/tg-tokenguard-leader-election"] == nil {
				t.Fatalf("no leader-election Role and RoleBinding in tg-system: %v", r.kinds())
			}
			if res, _, _ := unstructured.NestedSlice(lease.Object, "rules"); fmt.Sprint(res) !=
				"[map[apiGroups:[coordination.k8s.io] resources:[leases] verbs:[get list watch create update patch delete]] "+
					"map[apiGroups:[] resources:[events] verbs:[create patch]]]" {
				t.Errorf("leader-election rules %v", res)
			}
		})
	}
}

// checkBinding checks that a binding grants the chart's role of that kind to
// the chart's ServiceAccount.
func checkBinding(t *testing.T, b *unstructured.Unstructured, kind string) {
	t.Helper()
	ref, _, _ := unstructured.NestedStringMap(b.Object, "roleRef")
	subjects, _, _ := unstructured.NestedSlice(b.Object, "subjects")
	if ref["kind"] != kind || ref["name"] != "tg-tokenguard" || len(subjects) != 1 ||
		fmt.Sprint(subjects[0]) != "map[kind:ServiceAccount name:tg-tokenguard namespace:tg-system]" {
		t.Errorf("%s/%s: roleRef %v subjects %v", b.GetKind(), b.GetName(), ref, subjects)
	}
}

// The shutdown durations reach the binary as flags, in seconds, and the pod's
// grace period follows its value.
func TestShutdown(t *testing.T) {
	cases := map[string]struct {
		set   []string
		args  []string
		grace int64
	}{
		"defaults":        {nil, []string{"--shutdown-drain-period=5s", "--shutdown-timeout=20s"}, 30},
		"integer seconds": {[]string{"shutdown.drainPeriod=10", "shutdown.timeout=40s", "terminationGracePeriodSeconds=60"}, []string{"--shutdown-drain-period=10s", "--shutdown-timeout=40s"}, 60},
		"no drain":        {[]string{"shutdown.drainPeriod=0s", "shutdown.timeout=29"}, []string{"--shutdown-drain-period=0s", "--shutdown-timeout=29s"}, 30},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ps := render(t, tc.set...).deployment(t).Spec.Template.Spec
			for _, a := range tc.args {
				if !slices.Contains(ps.Containers[0].Args, a) {
					t.Errorf("args %v lack %s", ps.Containers[0].Args, a)
				}
			}
			if ps.TerminationGracePeriodSeconds == nil || *ps.TerminationGracePeriodSeconds != tc.grace {
				t.Errorf("terminationGracePeriodSeconds %v, want %d", ps.TerminationGracePeriodSeconds, tc.grace)
			}
			if c := ps.Containers[0]; c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
				t.Errorf("preStop hook %+v: tokenguard drains itself", c.Lifecycle.PreStop)
			}
		})
	}
}

func TestToggles(t *testing.T) {
	t.Run("no CRDs", func(t *testing.T) {
		r := render(t, "crds.enabled=false")
		for _, name := range []string{"tokenpolicies", "iplists"} {
			if _, ok := r["CustomResourceDefinition/"+name+".policy.tokenguard.io"]; ok {
				t.Errorf("%s CRD rendered", name)
			}
		}
	})
	t.Run("observability and network", func(t *testing.T) {
		r := render(t, "metrics.serviceMonitor.enabled=true", "networkPolicy.enabled=true", "podDisruptionBudget.maxUnavailable=1")
		for _, k := range []string{"ServiceMonitor/tg-system/tg-tokenguard", "NetworkPolicy/tg-system/tg-tokenguard"} {
			if _, ok := r[k]; !ok {
				t.Errorf("%s missing", k)
			}
		}
		spec := r["PodDisruptionBudget/tg-system/tg-tokenguard"].Object["spec"].(map[string]any)
		if fmt.Sprint(spec["maxUnavailable"]) != "1" || spec["minAvailable"] != nil {
			t.Errorf("PDB spec %v", spec)
		}
	})
	t.Run("exposed over TLS with cert-manager", func(t *testing.T) {
		r := render(t, "ingress.enabled=true", "ingress.host=tg.example.com", "actionEndpoint.tls.enabled=true",
			"actionEndpoint.tls.secretName=tg-tls", "actionEndpoint.tls.certificate.enabled=true", "actionEndpoint.tls.certificate.issuerRef.name=letsencrypt")
		ing, cert := r["Ingress/tg-system/tg-tokenguard"], r["Certificate/tg-system/tg-tokenguard"]
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
	t.Run("no ASN database", func(t *testing.T) {
		for _, a := range render(t, "asn.embedded=false").deployment(t).Spec.Template.Spec.Containers[0].Args {
			if strings.HasPrefix(a, "--asn-database") {
				t.Errorf("args name an ASN database: %s", a)
			}
		}
	})
	t.Run("geoipupdate", func(t *testing.T) {
		r := render(t, "geoip.source=geoipupdate", "geoip.geoipupdate.accountID=12345", "geoip.geoipupdate.licenseKeySecret=maxmind",
			"geoip.geoipupdate.editionIDs={GeoLite2-Country,GeoLite2-ASN,GeoLite2-City}")
		ps := r.deployment(t).Spec.Template.Spec
		if len(ps.InitContainers) != 1 || len(ps.Containers) != 2 || ps.Containers[1].Name != "geoipupdate" {
			t.Fatalf("containers %d init %d", len(ps.Containers), len(ps.InitContainers))
		}
		args := ps.Containers[0].Args
		var dbs []string
		for _, a := range args {
			if strings.HasPrefix(a, "--geoip-database=") || strings.HasPrefix(a, "--asn-database=") {
				dbs = append(dbs, a)
			}
		}
		// The ASN edition is an ASN database, before the embedded one.
		if want := []string{"--geoip-database=/var/lib/geoip/GeoLite2-Country.mmdb", "--geoip-database=/var/lib/geoip/GeoLite2-City.mmdb",
			"--asn-database=/var/lib/geoip/GeoLite2-ASN.mmdb", "--asn-database=/usr/share/tokenguard/asn/asn.mmdb"}; !slices.Equal(dbs, want) {
			t.Errorf("database args %v, want %v", dbs, want)
		}
		if *ps.Containers[1].SecurityContext.RunAsUser != 65532 || !*ps.Containers[1].SecurityContext.ReadOnlyRootFilesystem {
			t.Errorf("sidecar security context %+v", ps.Containers[1].SecurityContext)
		}
	})
}

func TestRefusedValues(t *testing.T) {
	cases := map[string]struct {
		set []string
		err string
	}{
		"no auth secret":             {[]string{"actionEndpoint.auth.existingSecret="}, "actionEndpoint.auth.existingSecret is required"},
		"zero replicas":              {[]string{"replicaCount=0"}, "/replicaCount"},
		"unknown geoip source":       {[]string{"geoip.source=cdn"}, "/geoip/source"},
		"typo in a value":            {[]string{"replicaCont=3"}, "additional properties 'replicaCont' not allowed"},
		"geoipupdate no key":         {[]string{"geoip.source=geoipupdate", "geoip.geoipupdate.accountID=1"}, "licenseKeySecret is required"},
		"tls without secret":         {[]string{"actionEndpoint.tls.enabled=true"}, "actionEndpoint.tls.secretName is required"},
		"every namespace and a list": {[]string{"watchAllNamespaces=true", "watchNamespaces={team-a}"}, "/watchNamespaces"},
		"a namespace twice":          {[]string{"watchNamespaces={team-a,team-a}"}, "/watchNamespaces"},
		"drain in minutes":           {[]string{"shutdown.drainPeriod=1m"}, "/shutdown/drainPeriod"},
		"shutdown as long as grace":  {[]string{"shutdown.timeout=25s"}, "shutdown.drainPeriod (5s) + shutdown.timeout (25s) must be below terminationGracePeriodSeconds (30)"},
		"grace shortened":            {[]string{"terminationGracePeriodSeconds=20"}, "must be below terminationGracePeriodSeconds (20)"},
		"redis secret without url":   {[]string{"redis.existingSecret=valkey"}, "redis.existingSecret and redis.tls.caSecret need redis.url"},
		"redis password in url":      {[]string{"redis.url=redis://:hunter2@valkey:6379"}, "redis.url must not hold the password"},
		"redis CA without TLS":       {[]string{"redis.url=redis://valkey:6379", "redis.tls.caSecret=ca"}, "needs a rediss:// redis.url"},
		"redis url not a url":        {[]string{"redis.url=valkey:6379"}, "/redis/url"},
		"redis timeout in minutes":   {[]string{"redis.url=redis://valkey:6379", "redis.timeout=1m"}, "/redis/timeout"},
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

// Shared state: in memory unless redis.url is set; the password and the CA
// come from Secrets mounted as files.
func TestRedis(t *testing.T) {
	has := func(args []string, prefix string) bool {
		return slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, prefix) })
	}
	t.Run("off by default", func(t *testing.T) {
		ps := render(t).deployment(t).Spec.Template.Spec
		if has(ps.Containers[0].Args, "--redis-") {
			t.Errorf("args %v: no --redis-* flag without redis.url", ps.Containers[0].Args)
		}
		if len(ps.Volumes) != 1 {
			t.Errorf("volumes %+v", ps.Volumes)
		}
	})
	t.Run("plain URL", func(t *testing.T) {
		ps := render(t, "redis.url=redis://valkey.valkey:6379/2", "redis.timeout=30ms").deployment(t).Spec.Template.Spec
		args := ps.Containers[0].Args
		for _, a := range []string{"--redis-url=redis://valkey.valkey:6379/2", "--redis-timeout=30ms"} {
			if !slices.Contains(args, a) {
				t.Errorf("args %v lack %s", args, a)
			}
		}
		if has(args, "--redis-password-file") || has(args, "--redis-ca-file") || len(ps.Volumes) != 1 {
			t.Errorf("password or CA without their Secrets: args %v, volumes %+v", args, ps.Volumes)
		}
	})
	t.Run("password and CA from Secrets", func(t *testing.T) {
		ps := render(t, "redis.url=rediss://valkey.valkey:6380/0", "redis.existingSecret=valkey-auth",
			"redis.passwordKey=valkey-password", "redis.tls.caSecret=valkey-tls").deployment(t).Spec.Template.Spec
		c := ps.Containers[0]
		for _, a := range []string{"--redis-url=rediss://valkey.valkey:6380/0", "--redis-timeout=50ms",
			"--redis-password-file=/etc/tokenguard/redis/password", "--redis-ca-file=/etc/tokenguard/redis-ca/ca.crt"} {
			if !slices.Contains(c.Args, a) {
				t.Errorf("args %v lack %s", c.Args, a)
			}
		}
		vols := map[string]corev1.Volume{}
		for _, v := range ps.Volumes {
			vols[v.Name] = v
		}
		pw, ca := vols["redis-password"].Secret, vols["redis-ca"].Secret
		if pw == nil || pw.SecretName != "valkey-auth" || len(pw.Items) != 1 || pw.Items[0] != (corev1.KeyToPath{Key: "valkey-password", Path: "password"}) {
			t.Errorf("password volume %+v", vols["redis-password"])
		}
		if ca == nil || ca.SecretName != "valkey-tls" || len(ca.Items) != 1 || ca.Items[0] != (corev1.KeyToPath{Key: "ca.crt", Path: "ca.crt"}) {
			t.Errorf("CA volume %+v", vols["redis-ca"])
		}
		mounts := map[string]string{}
		for _, m := range c.VolumeMounts {
			if !m.ReadOnly {
				t.Errorf("mount %s is writable", m.Name)
			}
			mounts[m.Name] = m.MountPath
		}
		if mounts["redis-password"] != "/etc/tokenguard/redis" || mounts["redis-ca"] != "/etc/tokenguard/redis-ca" {
			t.Errorf("mounts %v", mounts)
		}
	})
}
