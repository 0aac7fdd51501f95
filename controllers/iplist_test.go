// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/internal/compiler"
	"github.com/tokenguard/tokenguard/internal/iplist"
	"github.com/tokenguard/tokenguard/internal/testutil"
)

const (
	blockedText     = "blocked from your network"
	unavailableText = "a network list is unavailable"
)

func getList(t *testing.T, ns, name string) (*metav1.Condition, *v1alpha1.IPList) {
	t.Helper()
	var l v1alpha1.IPList
	if err := k8sClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &l); err != nil {
		return nil, nil
	}
	return meta.FindStatusCondition(l.Status.Conditions, v1alpha1.ConditionReady), &l
}

// waitList waits for the list's Ready condition for its current generation.
func waitList(t *testing.T, ns, name string, status metav1.ConditionStatus, reason string, check ...func(*v1alpha1.IPList) error) *v1alpha1.IPList {
	t.Helper()
	var got *v1alpha1.IPList
	testutil.Eventually(t, 30*time.Second, fmt.Sprintf("IPList %s/%s Ready=%s %s", ns, name, status, reason), func() error {
		c, l := getList(t, ns, name)
		if c == nil {
			return errors.New("no Ready condition")
		}
		if c.Status != status || c.Reason != reason || c.ObservedGeneration != l.Generation || l.Status.ObservedGeneration != l.Generation {
			return fmt.Errorf("condition %+v, generation %d, observed %d", *c, l.Generation, l.Status.ObservedGeneration)
		}
		for _, f := range check {
			if err := f(l); err != nil {
				return err
			}
		}
		got = l
		return nil
	})
	return got
}

func entries(n int64) func(*v1alpha1.IPList) error {
	return func(l *v1alpha1.IPList) error {
		if l.Status.Entries != n {
			return fmt.Errorf("%d entries, want %d", l.Status.Entries, n)
		}
		return nil
	}
}

// answers waits until the replica answers a call from ip with a body
// containing want.
func answers(t *testing.T, op *operator, ip, want string) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, fmt.Sprintf("a call from %s answered %q", ip, want), func() error {
		if got := decide(t, op.url, ip); !strings.Contains(got, want) {
			return errors.New(got)
		}
		return nil
	})
}

func update[T client.Object](t *testing.T, obj T, change func(T)) {
	t.Helper()
	ctx := context.Background()
	testutil.Eventually(t, 10*time.Second, "update "+obj.GetName(), func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		change(obj)
		return k8sClient.Update(ctx, obj)
	})
}

// An IPList on the real API server: loaded and Ready on every replica (the
// leader writes its status), named by a policy (a listed address is
// denied, and allowed again once the list no longer holds it), and
// deleted (the policy denies what it matches, ListNotReady, until the list
// is back).
func TestIPListLifecycle(t *testing.T) {
	ctx := context.Background()
	ns := createNamespace(t, "iplist")
	a := startOperator(t, "tokenguard-iplist-a", ns+"-lease", ns)
	b := startOperator(t, "tokenguard-iplist-b", ns+"-lease", ns)

	l := newIPList(ns, "blocked", `entries: [205.210.31.51, 14.102.64.0-14.102.95.255]`)
	if err := k8sClient.Create(ctx, l); err != nil {
		t.Fatal(err)
	}
	got := waitList(t, ns, "blocked", metav1.ConditionTrue, v1alpha1.ReasonLoaded, entries(2))
	if c, _ := getList(t, ns, "blocked"); got.Status.LastSuccessfulFetch == nil || c.Message != "2 entries loaded from 2 inline entries" {
		t.Errorf("status %+v", got.Status)
	}
	tp := newPolicy(ns, "p", `networks: {blockedLists: [blocked]}`)
	if err := k8sClient.Create(ctx, tp); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, ns, "p", metav1.ConditionTrue, v1alpha1.ReasonCompiled)
	// Every replica serves the list, the leader or not.
	for _, op := range []*operator{a, b} {
		answers(t, op, "205.210.31.51", blockedText)
		answers(t, op, "14.102.69.58", blockedText)
		answers(t, op, "175.45.176.9", `"SUCCESS"`)
	}

	// The list changes: the address is allowed again, on every replica.
	update(t, l, func(l *v1alpha1.IPList) { l.Spec.Entries = []v1alpha1.IPListEntry{"14.102.64.0/19"} })
	waitList(t, ns, "blocked", metav1.ConditionTrue, v1alpha1.ReasonLoaded, entries(1))
	for _, op := range []*operator{a, b} {
		answers(t, op, "205.210.31.51", `"SUCCESS"`)
		answers(t, op, "14.102.69.58", blockedText)
	}

	// Deleted: the policy denies what it matches, and says so.
	if err := k8sClient.Delete(ctx, l); err != nil {
		t.Fatal(err)
	}
	got2 := waitCondition(t, ns, "p", metav1.ConditionFalse, v1alpha1.ReasonListNotReady)
	if c, _ := readyCondition(t, ns, got2.Name); c == nil || !strings.Contains(c.Message,
		"blocked IPList blocked does not exist: every call the policy matches that has an address is denied (list_unavailable) until it loads") {
		t.Errorf("condition %+v", c)
	}
	for _, op := range []*operator{a, b} {
		answers(t, op, "175.45.176.9", unavailableText)
	}
	// Back: served again, Compiled.
	if err := k8sClient.Create(ctx, newIPList(ns, "blocked", `entries: [205.210.31.51]`)); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, ns, "p", metav1.ConditionTrue, v1alpha1.ReasonCompiled)
	for _, op := range []*operator{a, b} {
		answers(t, op, "175.45.176.9", `"SUCCESS"`)
		answers(t, op, "205.210.31.51", blockedText)
	}

	// A trusted list that does not exist trusts nothing, and says so.
	tr := newPolicy(ns, "trusting", `{networks: {trustedLists: [office]}, geo: {blockedCountries: [KP]}}`)
	if err := k8sClient.Create(ctx, tr); err != nil {
		t.Fatal(err)
	}
	got3 := waitCondition(t, ns, "trusting", metav1.ConditionFalse, v1alpha1.ReasonListNotReady)
	if c, _ := readyCondition(t, ns, got3.Name); c == nil || !strings.Contains(c.Message, "trusted IPList office does not exist: it trusts nothing until it loads") {
		t.Errorf("condition %+v", c)
	}
}

// spread is the i-th of n distinct networks spread over the IPv4 space, as
// real block lists are: three addresses for each /24 network.
func spread(i int) string {
	a := uint32(i) * 2654435761
	if i%4 == 3 {
		return fmt.Sprintf("%d.%d.%d.0/24", a>>24, a>>16&255, a>>8&255)
	}
	return fmt.Sprintf("%d.%d.%d.%d", a>>24, a>>16&255, a>>8&255, a&255)
}

// A 100,000-entry list, too large for one ConfigMap (1 MiB), split over
// four: loaded, served, following a change of one part; a part deleted
// keeps the last good list in force and says so.
func TestIPListLargeConfigMaps(t *testing.T) {
	ctx := context.Background()
	ns := createNamespace(t, "iplist-large")
	op := startOperator(t, "tokenguard-iplist-large", ns+"-lease", ns)
	const total, parts = 100000, 4
	var refs []string
	for p := range parts {
		var b strings.Builder
		fmt.Fprintf(&b, "# part %d of the abuse list\n", p+1)
		for i := p * total / parts; i < (p+1)*total/parts; i++ {
			b.WriteString(spread(i) + "\n")
		}
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("abuse-%d", p+1)}, Data: map[string]string{"list": b.String()}}
		if err := k8sClient.Create(ctx, cm); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, fmt.Sprintf("{name: abuse-%d, key: list}", p+1))
	}
	if err := k8sClient.Create(ctx, newIPList(ns, "abuse", "configMaps: ["+strings.Join(refs, ", ")+"]")); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Create(ctx, newPolicy(ns, "p", `networks: {blockedLists: [abuse]}`)); err != nil {
		t.Fatal(err)
	}
	waitList(t, ns, "abuse", metav1.ConditionTrue, v1alpha1.ReasonLoaded, entries(total))
	waitCondition(t, ns, "p", metav1.ConditionTrue, v1alpha1.ReasonCompiled)
	first := strings.TrimSuffix(spread(1), "/24")
	last := strings.TrimSuffix(spread(total-3), "/24") // an address in part 4
	answers(t, op, first, blockedText)
	answers(t, op, last, blockedText)
	answers(t, op, "192.0.2.1", `"SUCCESS"`)

	// Part 4 changes: its addresses are allowed, a new one denied.
	cm4 := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "abuse-4"}}
	update(t, cm4, func(cm *corev1.ConfigMap) { cm.Data["list"] = "192.0.2.1\n" })
	waitList(t, ns, "abuse", metav1.ConditionTrue, v1alpha1.ReasonLoaded, entries(3*total/parts+1))
	answers(t, op, last, `"SUCCESS"`)
	answers(t, op, "192.0.2.1", blockedText)

	// Part 1 deleted: the list in force stays, the status says why.
	if err := k8sClient.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "abuse-1"}}); err != nil {
		t.Fatal(err)
	}
	waitList(t, ns, "abuse", metav1.ConditionFalse, v1alpha1.ReasonConfigMapNotFound, entries(3*total/parts+1), func(l *v1alpha1.IPList) error {
		if c := meta.FindStatusCondition(l.Status.Conditions, v1alpha1.ConditionReady); !strings.Contains(c.Message,
			`ConfigMap abuse-1 key "list": the ConfigMap does not exist (failing since`) || !strings.Contains(c.Message, "serving the previous content: 75001 entries") {
			return errors.New(c.Message)
		}
		return nil
	})
	answers(t, op, first, blockedText)
	// The policy is still Compiled: the list is served.
	waitCondition(t, ns, "p", metav1.ConditionTrue, v1alpha1.ReasonCompiled)
}

// gate is a list server on loopback that holds its answers until opened,
// then serves body with status code.
type gate struct {
	*httptest.Server
	mu     sync.Mutex
	open   chan struct{}
	code   int
	body   string
	closed bool
}

func newGate(t *testing.T, body string) *gate {
	g := &gate{open: make(chan struct{}), code: http.StatusOK, body: body}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-g.open:
		case <-r.Context().Done():
			return
		}
		g.mu.Lock()
		code, body := g.code, g.body
		g.mu.Unlock()
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(func() { g.release(); g.Close() })
	return g
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		close(g.open)
		g.closed = true
	}
}

func (g *gate) set(code int, body string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.code, g.body = code, body
}

// A replica does not become ready before the lists its policies name have
// had their first load: it answers no call from a snapshot in which a
// Tor exit list that is still downloading counts as missing. Once loaded,
// a URL that fails keeps the list in force (FetchFailed).
func TestIPListFirstSyncAndURL(t *testing.T) {
	ctx := context.Background()
	ns := createNamespace(t, "iplist-url")
	tor := newGate(t, "# Tor bulk exit list\n185.220.101.1\n185.220.101.2\n2a0b:f4c2::11\n")
	if err := k8sClient.Create(ctx, newIPList(ns, "tor-exits", `url: {url: "`+tor.URL+`/torbulkexitlist"}`)); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Create(ctx, newPolicy(ns, "no-tor", `networks: {blockedLists: [tor-exits]}`)); err != nil {
		t.Fatal(err)
	}
	op := startOperator(t, "tokenguard-iplist-url", ns+"-lease", ns)
	time.Sleep(2 * time.Second)
	if op.svc.Store.Ready() {
		t.Fatal("ready while the list's first fetch is still under way")
	}
	if got := decide(t, op.url, "192.0.2.1"); !strings.Contains(got, `"ERROR"`) {
		t.Errorf("answered before the first snapshot: %s", got)
	}
	tor.release()
	testutil.Eventually(t, 20*time.Second, "ready", func() error {
		if !op.svc.Store.Ready() {
			return errors.New("not ready")
		}
		return nil
	})
	// The first snapshot already has the list.
	if p, ok := op.svc.Store.Get(compiler.Key(ns, "no-tor")); !ok || p.BlockedListUnavailable || !p.Blocked.Contains(netip.MustParseAddr("185.220.101.2")) {
		t.Fatalf("first snapshot: %+v", p)
	}
	answers(t, op, "185.220.101.1", blockedText)
	answers(t, op, "2a0b:f4c2::11", blockedText)
	answers(t, op, "192.0.2.1", `"SUCCESS"`)
	waitList(t, ns, "tor-exits", metav1.ConditionTrue, v1alpha1.ReasonLoaded, entries(3))

	// The list moves to a URL that fails: the last good list stays in force.
	tor.set(http.StatusNotFound, "gone\n")
	l := &v1alpha1.IPList{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tor-exits"}}
	update(t, l, func(l *v1alpha1.IPList) { l.Spec.URL.URL = tor.URL + "/torbulkexitlist?moved" })
	waitList(t, ns, "tor-exits", metav1.ConditionFalse, v1alpha1.ReasonFetchFailed, entries(3), func(l *v1alpha1.IPList) error {
		c := meta.FindStatusCondition(l.Status.Conditions, v1alpha1.ConditionReady)
		if !strings.Contains(c.Message, "HTTP 404 Not Found (failing since") || !strings.Contains(c.Message, "serving the previous content: 3 entries") {
			return errors.New(c.Message)
		}
		return nil
	})
	answers(t, op, "185.220.101.1", blockedText)
	waitCondition(t, ns, "no-tor", metav1.ConditionTrue, v1alpha1.ReasonCompiled)

	// A list that never loads: the missing-list rule, and the policy says why.
	bad := newGate(t, "")
	bad.set(http.StatusServiceUnavailable, "")
	bad.release()
	if err := k8sClient.Create(ctx, newIPList(ns, "firehol", `url: {url: "`+bad.URL+`/firehol_level1.netset"}`)); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Create(ctx, newPolicy(ns, "no-firehol", `{match: {clientIDs: [other]}, networks: {blockedLists: [firehol]}}`)); err != nil {
		t.Fatal(err)
	}
	waitList(t, ns, "firehol", metav1.ConditionFalse, v1alpha1.ReasonFetchFailed, entries(0), func(l *v1alpha1.IPList) error {
		if c := meta.FindStatusCondition(l.Status.Conditions, v1alpha1.ConditionReady); !strings.Contains(c.Message, "never loaded") {
			return errors.New(c.Message)
		}
		return nil
	})
	got := waitCondition(t, ns, "no-firehol", metav1.ConditionFalse, v1alpha1.ReasonListNotReady)
	if c, _ := readyCondition(t, ns, got.Name); c == nil || !strings.Contains(c.Message, "blocked IPList firehol has never loaded (FetchFailed)") {
		t.Errorf("condition %+v", c)
	}
}

// The API's condition reasons are the list loader's: internal/iplist stays
// free of Kubernetes types, so the two constant sets must agree.
func TestListReasonsMatchTheAPI(t *testing.T) {
	for api, loader := range map[string]string{
		v1alpha1.ReasonLoaded:            iplist.ReasonLoaded,
		v1alpha1.ReasonFetchFailed:       iplist.ReasonFetchFailed,
		v1alpha1.ReasonConfigMapNotFound: iplist.ReasonConfigMapNotFound,
		v1alpha1.ReasonInvalidEntries:    iplist.ReasonInvalidEntries,
		v1alpha1.ReasonTooLarge:          iplist.ReasonTooLarge,
		v1alpha1.ReasonFileNotSupported:  iplist.ReasonFileNotSupported,
		v1alpha1.ReasonFileUnreadable:    iplist.ReasonFileUnreadable,
		v1alpha1.ReasonReadFailed:        iplist.ReasonReadFailed,
	} {
		if api != loader {
			t.Errorf("API reason %q, loader reason %q", api, loader)
		}
	}
}
