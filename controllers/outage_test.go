// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/internal/app"
	"github.com/tokenguard/tokenguard/internal/testutil"
	"github.com/tokenguard/tokenguard/webhook"
)

// load sends a blocked address to every replica until stopped and counts
// the answers that are not the expected denial.
type load struct {
	mu             sync.Mutex
	sent, wrong    int
	firstWrong     string
	stop           chan struct{}
	done           sync.WaitGroup
	urls           []string
	ip, wantStatus string
}

func startLoad(t *testing.T, urls []string, ip string) *load {
	l := &load{stop: make(chan struct{}), urls: urls, ip: ip, wantStatus: `"actionStatus":"FAILED"`}
	body := testutil.JSON(t, testutil.Request(ip))
	httpClient := &http.Client{Timeout: 5 * time.Second}
	for _, u := range urls {
		l.done.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				resp, err := httpClient.Post(u+webhook.Path, "application/json", bytes.NewReader(body)) //nolint:noctx // test
				got := ""
				if err != nil {
					got = err.Error()
				} else {
					b, _ := io.ReadAll(resp.Body)
					_ = resp.Body.Close()
					got = fmt.Sprintf("%d %s", resp.StatusCode, b)
				}
				l.mu.Lock()
				l.sent++
				if !strings.Contains(got, l.wantStatus) {
					l.wrong++
					if l.firstWrong == "" {
						l.firstWrong = got
					}
				}
				l.mu.Unlock()
			}
		})
	}
	return l
}

func (l *load) finish() (sent, wrong int, first string) {
	close(l.stop)
	l.done.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent, l.wrong, l.firstWrong
}

// With leader election on, the API server and etcd stop for longer than the
// lease's renew deadline while calls arrive. Both replicas keep answering
// from their last snapshot (no call fails, no exit), report the snapshot as
// stale, and stop writing status; when the control plane returns, leadership
// is won again and a policy change reaches both replicas within seconds,
// not after client-go's watch backoff of up to a minute.
func TestAPIServerOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("an outage of 15 s")
	}
	ctx := context.Background()
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(testutil.RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	// Fixed folders, so the control plane restarts with its data and certificates.
	env.ControlPlane.Etcd = &envtest.Etcd{DataDir: t.TempDir()}
	env.ControlPlane.APIServer = &envtest.APIServer{CertDir: t.TempDir()}
	restCfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	c, err := client.New(restCfg, client.Options{Scheme: app.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	const ns = "default"
	tp := newPolicy(ns, "block", `networks: {blockedCIDRs: [205.210.31.0/24], blockedLists: [bad]}`)
	if err := c.Create(ctx, tp); err != nil {
		t.Fatal(err)
	}
	bad := &v1alpha1.IPList{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad"},
		Spec: v1alpha1.IPListSpec{Entries: []v1alpha1.IPListEntry{"192.0.2.0/24"}}}
	if err := c.Create(ctx, bad); err != nil {
		t.Fatal(err)
	}
	a := startOperatorOn(t, restCfg, "tokenguard-a", "outage-lease", ns)
	b := startOperatorOn(t, restCfg, "tokenguard-b", "outage-lease", ns)
	ops := []*operator{a, b}
	for _, op := range ops {
		testutil.Eventually(t, 20*time.Second, "serving the policy", func() error {
			if got := decide(t, op.url, "205.210.31.51"); !strings.Contains(got, `"FAILED"`) {
				return errors.New(got)
			}
			return nil
		})
	}
	testutil.Eventually(t, 30*time.Second, "one leader", func() error {
		if leading(a) == leading(b) {
			return fmt.Errorf("leading: a=%v b=%v", leading(a), leading(b))
		}
		return nil
	})

	l := startLoad(t, []string{a.url, b.url}, "205.210.31.51")
	// Kill both, as a crashed control plane node would go: no graceful
	// termination of the watches.
	kill(t, "--cert-dir="+env.ControlPlane.APIServer.CertDir)
	kill(t, "--data-dir="+env.ControlPlane.Etcd.DataDir)
	_ = env.ControlPlane.APIServer.Stop()
	_ = env.ControlPlane.Etcd.Stop()
	// Longer than the 10 s renew deadline: controller-runtime's manager
	// would have exited here.
	testutil.Eventually(t, 30*time.Second, "leadership lost and snapshot stale on both", func() error {
		for _, op := range ops {
			if leading(op) || promtestutil.ToFloat64(op.svc.Lifecycle.Stale) != 1 {
				return fmt.Errorf("leading=%v stale=%v", leading(op), promtestutil.ToFloat64(op.svc.Lifecycle.Stale))
			}
		}
		return nil
	})
	for _, op := range ops {
		select {
		case err := <-op.done:
			t.Fatalf("a replica stopped during the outage: %v", err)
		default:
		}
		if since := promtestutil.ToFloat64(op.svc.Lifecycle.StaleSince); since == 0 {
			t.Error("stale, but since when is not reported")
		}
	}

	if err := env.ControlPlane.Etcd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := env.ControlPlane.APIServer.Start(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "snapshot fresh again", func() error {
		for _, op := range ops {
			if promtestutil.ToFloat64(op.svc.Lifecycle.Stale) != 0 {
				return errors.New("still stale")
			}
		}
		return nil
	})
	sent, wrong, first := l.finish()
	t.Logf("during the outage: %d calls, %d not denied", sent, wrong)
	if wrong > 0 || sent == 0 {
		t.Errorf("%d of %d calls during the outage were not denied; first: %s", wrong, sent, first)
	}

	// A change made now reaches both replicas within seconds.
	var cur v1alpha1.TokenPolicy
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "block"}, &cur); err != nil {
		t.Fatal(err)
	}
	cur.Spec.Networks.BlockedCIDRs = append(cur.Spec.Networks.BlockedCIDRs, "14.102.69.0/24")
	if err := c.Update(ctx, &cur); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	for _, op := range ops {
		testutil.Eventually(t, 10*time.Second, "the change served", func() error {
			if got := decide(t, op.url, "14.102.69.58"); !strings.Contains(got, `"FAILED"`) {
				return errors.New(got)
			}
			return nil
		})
	}
	t.Logf("change served by both replicas %v after the update", time.Since(changed).Round(time.Millisecond))

	// So does a change to an IP list: the list's watch is backing off too.
	var cur2 v1alpha1.IPList
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "bad"}, &cur2); err != nil {
		t.Fatal(err)
	}
	cur2.Spec.Entries = append(cur2.Spec.Entries, "198.51.100.0/24")
	if err := c.Update(ctx, &cur2); err != nil {
		t.Fatal(err)
	}
	changed = time.Now()
	for _, op := range ops {
		testutil.Eventually(t, 10*time.Second, "the list change served", func() error {
			if got := decide(t, op.url, "198.51.100.7"); !strings.Contains(got, `"FAILED"`) {
				return errors.New(got)
			}
			return nil
		})
	}
	t.Logf("list change served by both replicas %v after the update", time.Since(changed).Round(time.Millisecond))

	// Leadership is won again and status writing resumes.
	testutil.Eventually(t, 30*time.Second, "status of the change written", func() error {
		if !leading(a) && !leading(b) {
			return errors.New("no leader")
		}
		var got v1alpha1.TokenPolicy
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "block"}, &got); err != nil {
			return err
		}
		cond := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
		if cond == nil || cond.Status != metav1.ConditionTrue || got.Status.ObservedGeneration != got.Generation {
			return fmt.Errorf("status %+v", got.Status)
		}
		return nil
	})
}

// kill sends SIGKILL to the processes whose command line has arg.
func kill(t *testing.T, arg string) {
	t.Helper()
	out, err := exec.Command("pkill", "-KILL", "-f", "--", arg).CombinedOutput()
	if err != nil {
		t.Fatalf("pkill %s: %v %s", arg, err, out)
	}
}
