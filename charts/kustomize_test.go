// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package charts_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/tokenguard/tokenguard/internal/testutil"
)

func decodeAll(t *testing.T, y string) rendered {
	t.Helper()
	objs := rendered{}
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(y), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatal(err)
		}
		if len(u.Object) == 0 {
			continue
		}
		key := u.GetKind() + "/" + u.GetName()
		if ns := u.GetNamespace(); ns != "" {
			key = u.GetKind() + "/" + ns + "/" + u.GetName()
		}
		objs[key] = u
	}
}

// config/default and the chart (release "tokenguard" in tokenguard-system,
// defaults) install the same objects with the same content where it matters:
// RBAC rules and subjects, the container's arguments, ports, probes and
// security contexts, the grace period, Services and the PodDisruptionBudget.
// Both watch tokenguard-system alone and grant the operator's rules there in a
// Role: no ClusterRole lets either read Secrets elsewhere.
func TestKustomizeMatchesChart(t *testing.T) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test`, which builds kubectl")
	}
	out, err := exec.Command(filepath.Join(assets, "kubectl"), "kustomize", filepath.Join(testutil.RepoRoot(), "config", "default")).CombinedOutput() //nolint:gosec // test
	if err != nil {
		t.Fatalf("kubectl kustomize: %v\n%s", err, out)
	}
	kust := decodeAll(t, string(out))
	helmOut, err := helm(t, "template", "tokenguard", chart, "--namespace", "tokenguard-system",
		"--set", "actionEndpoint.auth.existingSecret=tokenguard-action-auth")
	if err != nil {
		t.Fatal(err)
	}
	chartObjs := decodeAll(t, helmOut)
	delete(kust, "Namespace/tokenguard-system")
	if got, want := kust.kinds(), chartObjs.kinds(); !slices.Equal(got, want) {
		t.Fatalf("kustomize objects:\n%v\nchart objects:\n%v", got, want)
	}
	same := func(key string, path ...string) {
		t.Helper()
		a, _, _ := unstructured.NestedFieldNoCopy(kust[key].Object, path...)
		b, _, _ := unstructured.NestedFieldNoCopy(chartObjs[key].Object, path...)
		if !equality.Semantic.DeepEqual(a, b) {
			t.Errorf("%s %s:\nkustomize %v\nchart     %v", key, strings.Join(path, "."), a, b)
		}
	}
	for _, k := range []string{"Role/tokenguard-system/tokenguard", "RoleBinding/tokenguard-system/tokenguard"} {
		if kust[k] == nil {
			t.Fatalf("kustomize does not install %s: %v", k, kust.kinds())
		}
	}
	for _, k := range kust.kinds() {
		if strings.HasPrefix(k, "ClusterRole") {
			t.Errorf("kustomize installs %s", k)
		}
	}
	same("Role/tokenguard-system/tokenguard", "rules")
	same("RoleBinding/tokenguard-system/tokenguard", "subjects")
	same("RoleBinding/tokenguard-system/tokenguard", "roleRef")
	same("Role/tokenguard-system/tokenguard-leader-election", "rules")
	same("RoleBinding/tokenguard-system/tokenguard-leader-election", "subjects")
	same("PodDisruptionBudget/tokenguard-system/tokenguard", "spec", "minAvailable")
	same("Deployment/tokenguard-system/tokenguard", "spec", "replicas")
	same("Deployment/tokenguard-system/tokenguard", "spec", "template", "spec", "securityContext")
	same("Deployment/tokenguard-system/tokenguard", "spec", "template", "spec", "terminationGracePeriodSeconds")
	same("Deployment/tokenguard-system/tokenguard", "spec", "template", "spec", "volumes")
	same("CustomResourceDefinition/tokenpolicies.policy.tokenguard.io", "spec")
	for _, svc := range []string{"Service/tokenguard-system/tokenguard", "Service/tokenguard-system/tokenguard-metrics"} {
		same(svc, "spec", "ports")
	}
	kc := container(t, kust["Deployment/tokenguard-system/tokenguard"])
	cc := container(t, chartObjs["Deployment/tokenguard-system/tokenguard"])
	for _, f := range []string{"ports", "securityContext", "livenessProbe", "readinessProbe", "resources", "volumeMounts"} {
		if !equality.Semantic.DeepEqual(kc[f], cc[f]) {
			t.Errorf("container %s:\nkustomize %v\nchart     %v", f, kc[f], cc[f])
		}
	}
	ka, ca := args(kc), args(cc)
	// kustomize watches $(POD_NAMESPACE), set from the pod's namespace so an
	// overlay that moves the install moves the watch; the chart names it.
	if env := fmt.Sprint(kc["env"]); env != "[map[name:POD_NAMESPACE valueFrom:map[fieldRef:map[fieldPath:metadata.namespace]]]]" {
		t.Errorf("kustomize container env %s", env)
	}
	for i, a := range ka {
		ka[i] = strings.ReplaceAll(a, "$(POD_NAMESPACE)", "tokenguard-system")
	}
	if !slices.Contains(ka, "--watch-namespace=tokenguard-system") {
		t.Errorf("kustomize args %v do not watch tokenguard-system", ka)
	}
	for _, a := range ca {
		if strings.HasPrefix(a, "--watch-namespace=") && !slices.Contains(ka, a) {
			t.Errorf("the chart passes %s, kustomize does not (%v)", a, ka)
		}
	}
	for _, a := range ka {
		if !slices.Contains(ca, a) && (a != "--leader-elect" || !slices.Contains(ca, "--leader-elect=true")) {
			t.Errorf("kustomize passes %s, the chart does not (%v)", a, ca)
		}
	}
}

func container(t *testing.T, d *unstructured.Unstructured) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if len(cs) == 0 {
		t.Fatalf("no containers in %s", d.GetName())
	}
	return cs[0].(map[string]any)
}

func args(c map[string]any) []string {
	var out []string
	list, _ := c["args"].([]any)
	for _, a := range list {
		out = append(out, a.(string))
	}
	return out
}
