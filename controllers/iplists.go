// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/internal/compiler"
	"github.com/tokenguard/tokenguard/internal/iplist"
	"github.com/tokenguard/tokenguard/internal/policy"
)

// The IPList rules, granted like the policies' (see setup.go).
// +kubebuilder:rbac:groups=policy.tokenguard.io,resources=iplists,verbs=get;list;watch
// +kubebuilder:rbac:groups=policy.tokenguard.io,resources=iplists/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch

const (
	// listRefIndex indexes TokenPolicies by the IPLists they name.
	listRefIndex = "spec.networks.lists"
	// configMapRefIndex indexes IPLists by the ConfigMaps they read.
	configMapRefIndex = "spec.configMaps.name"
)

// ListStore holds this replica's IP lists: for each IPList its loaded
// content and the outcome of its latest load (internal/iplist). The IPList
// controller is its one writer; compiling policies reads it. Subscribers
// hear of each list whose content, or whose reason for having none,
// changed, so that the policies naming it are compiled again.
type ListStore struct {
	mu    sync.Mutex
	lists map[types.NamespacedName]*iplist.List
	subs  map[int]func(types.NamespacedName)
	next  int
}

// NewListStore returns an empty store.
func NewListStore() *ListStore { return &ListStore{} }

func (s *ListStore) get(nn types.NamespacedName) *iplist.List {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lists[nn]
}

func (s *ListStore) getOrCreate(nn types.NamespacedName) *iplist.List {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lists[nn]
	if l == nil {
		if s.lists == nil {
			s.lists = map[types.NamespacedName]*iplist.List{}
		}
		l = &iplist.List{}
		s.lists[nn] = l
	}
	return l
}

// names returns the lists held.
func (s *ListStore) names() []types.NamespacedName {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]types.NamespacedName, 0, len(s.lists))
	for nn := range s.lists {
		out = append(out, nn)
	}
	return out
}

func (s *ListStore) remove(nn types.NamespacedName) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.lists[nn]
	delete(s.lists, nn)
	return ok
}

// subscribe calls f for each list that changed, until the returned cancel.
func (s *ListStore) subscribe(f func(types.NamespacedName)) (cancel func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subs == nil {
		s.subs = map[int]func(types.NamespacedName){}
	}
	id := s.next
	s.next++
	s.subs[id] = f
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.subs, id)
	}
}

func (s *ListStore) notify(nn types.NamespacedName) {
	s.mu.Lock()
	subs := make([]func(types.NamespacedName), 0, len(s.subs))
	for _, f := range s.subs {
		subs = append(subs, f)
	}
	s.mu.Unlock()
	for _, f := range subs {
		f(nn)
	}
}

// kubeLists is the compiler's ListReader on a replica: the content the
// IPList controller loaded, and, for a list it has not loaded yet, the
// cache to tell a list that does not exist from one still loading.
type kubeLists struct {
	store  *ListStore
	reader client.Reader
}

var _ compiler.ListReader = kubeLists{}

// listStates is kubeLists for a compile that only judges the policy (the
// status controller): it says whether each list can be read, without its
// networks, so that the compile does not merge sets the snapshot
// controller already built.
type listStates struct{ kubeLists }

func (k listStates) IPList(ctx context.Context, namespace, name string) (*policy.NetSet, error) {
	_, err := k.kubeLists.IPList(ctx, namespace, name)
	return nil, err
}

func (k kubeLists) IPList(ctx context.Context, namespace, name string) (*policy.NetSet, error) {
	nn := types.NamespacedName{Namespace: namespace, Name: name}
	if l := k.store.get(nn); l != nil {
		if c := l.Content(); c != nil {
			return c.Set, nil
		}
		if st, attempted := l.Status(); attempted {
			return nil, &compiler.ListError{Namespace: namespace, Name: name, Detail: "has never loaded (" + st.Reason + ")"}
		}
	}
	var obj v1alpha1.IPList
	if err := k.reader.Get(ctx, nn, &obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &compiler.ListError{Namespace: namespace, Name: name, Detail: "does not exist"}
		}
		return nil, err
	}
	return nil, &compiler.ListError{Namespace: namespace, Name: name, Pending: true, Detail: "has not loaded yet"}
}

// pendingLists reports whether a compilation met a list that is still
// loading for the first time.
func pendingLists(err error) bool {
	for _, e := range compiler.ListErrors(err) {
		if e.Pending {
			return true
		}
	}
	return false
}

// IndexListRefs registers the field indexes of the list watches: policies
// by the lists they name, lists by the ConfigMaps they read.
func IndexListRefs(ctx context.Context, mgr ctrl.Manager) error {
	err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.TokenPolicy{}, listRefIndex, func(o client.Object) []string {
		n := o.(*v1alpha1.TokenPolicy).Spec.Networks
		if n == nil {
			return nil
		}
		out := make([]string, 0, len(n.TrustedLists)+len(n.BlockedLists))
		for _, l := range append(append([]v1alpha1.IPListName(nil), n.TrustedLists...), n.BlockedLists...) {
			out = append(out, string(l))
		}
		return out
	})
	if err != nil {
		return err
	}
	return mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.IPList{}, configMapRefIndex, func(o client.Object) []string {
		refs := o.(*v1alpha1.IPList).Spec.ConfigMaps
		out := make([]string, 0, len(refs))
		for _, r := range refs {
			out = append(out, r.Name)
		}
		return out
	})
}

// policiesForList lists the TokenPolicies that name the list.
func policiesForList(ctx context.Context, c client.Reader, nn types.NamespacedName) []reconcile.Request {
	return requestsByIndex(ctx, c, &v1alpha1.TokenPolicyList{}, nn.Namespace, listRefIndex, nn.Name)
}

// listEvents is the watch that compiles again the policies naming a list
// whose content changed. It subscribes when its controller starts and
// enqueues straight into the queue, so no change is ever dropped.
func listEvents(store *ListStore, c client.Reader) source.Source {
	return source.Func(func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		if store == nil {
			return nil
		}
		cancel := store.subscribe(func(nn types.NamespacedName) {
			for _, req := range policiesForList(ctx, c, nn) {
				q.Add(req)
			}
		})
		context.AfterFunc(ctx, cancel)
		return nil
	})
}

// ListMetrics records what each list holds on this replica.
type ListMetrics interface {
	ObserveIPList(namespace, name string, entries int, ready bool, reason string, lastSuccess time.Time)
	ForgetIPList(namespace, name string)
}

// IPListReconciler loads each IPList on every replica: every replica serves
// and so needs the content, and fetches its URL itself on the list's
// refresh interval (no replica depends on another, or on the leader, to
// serve). It keeps each source's last good content (internal/iplist), tells
// the policy controllers when a list's content changed, and, on the leader
// only, writes the list's status.
type IPListReconciler struct {
	// Client reads IPLists and ConfigMap metadata from the cache.
	Client client.Client
	// APIReader reads ConfigMap data uncached: only the metadata of
	// ConfigMaps is cached, so their data is read only when it changed.
	APIReader client.Reader
	Lists     *ListStore
	Recorder  events.EventRecorder
	// Leader, when set, gates the status writes (nil: always write).
	Leader *Leader
	// HTTP fetches URL sources (a client with the default transport,
	// proxies from the environment, when nil).
	HTTP    *http.Client
	Metrics ListMetrics
	// FreshReads, when set and true, makes the reconciler read lists and
	// ConfigMap versions from the API server rather than the cache: after
	// an API server outage, while the cache's watches may still be backing
	// off (APIHealth.CatchingUp).
	FreshReads func() bool

	leading chan event.GenericEvent
}

// Reconcile loads one list, or forgets a deleted one.
func (r *IPListReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var obj v1alpha1.IPList
	var read client.Reader = r.Client
	if r.FreshReads != nil && r.FreshReads() {
		read = r.APIReader
	}
	if err := read.Get(ctx, req.NamespacedName, &obj); err != nil {
		if apierrors.IsNotFound(err) {
			if r.Lists.remove(req.NamespacedName) {
				if r.Metrics != nil {
					r.Metrics.ForgetIPList(req.Namespace, req.Name)
				}
				r.Lists.notify(req.NamespacedName)
			}
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	l := r.Lists.getOrCreate(req.NamespacedName)
	before, attempted := l.Status()
	hadContent := l.Content() != nil
	res := l.Load(ctx, compiler.ListSpec(&obj), iplist.Env{
		ConfigMaps: configMaps{ns: obj.Namespace, cache: read, api: r.APIReader, got: map[string]*corev1.ConfigMap{}},
		HTTP:       r.HTTP,
	})
	content := l.Content()
	log := ctrl.LoggerFrom(ctx)
	// Policies care about the content, and, while there is none, about why.
	if res.Changed || !attempted || (content == nil && before.Reason != res.Reason) || hadContent != (content != nil) {
		r.Lists.notify(req.NamespacedName)
	}
	entries := 0
	if content != nil {
		entries = content.Entries
	}
	if res.Ready != before.Ready || res.Reason != before.Reason || res.Changed {
		log.Info("IP list loaded", "ready", res.Ready, "reason", res.Reason, "entries", entries, "message", res.Message)
	}
	if r.Metrics != nil {
		r.Metrics.ObserveIPList(obj.Namespace, obj.Name, entries, res.Ready, res.Reason, res.LastSuccess)
	}
	if r.Leader.Leading() {
		if err := r.writeStatus(ctx, &obj, res, entries); err != nil {
			return ctrl.Result{}, err
		}
	}
	if res.Retry {
		return ctrl.Result{RequeueAfter: min(time.Second*5, max(res.RefreshIn, time.Second))}, nil
	}
	return ctrl.Result{RequeueAfter: res.RefreshIn}, nil
}

// writeStatus writes the list's status when it changed, with an event when
// the Ready condition did.
func (r *IPListReconciler) writeStatus(ctx context.Context, obj *v1alpha1.IPList, res iplist.Result, entries int) error {
	before := obj.DeepCopy()
	cond := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, ObservedGeneration: obj.Generation,
		Reason: res.Reason, Message: res.Message}
	if !res.Ready {
		cond.Status = metav1.ConditionFalse
	}
	prev := meta.FindStatusCondition(obj.Status.Conditions, v1alpha1.ConditionReady)
	changed := prev == nil || prev.Status != cond.Status || prev.Reason != cond.Reason || prev.Message != cond.Message
	meta.SetStatusCondition(&obj.Status.Conditions, cond)
	obj.Status.ObservedGeneration = obj.Generation
	obj.Status.Entries = int64(entries)
	if t := res.LastSuccess; !t.IsZero() && (obj.Status.LastSuccessfulFetch == nil || obj.Status.LastSuccessfulFetch.Time.Before(t.Truncate(time.Second))) {
		obj.Status.LastSuccessfulFetch = &metav1.Time{Time: t}
	}
	if apiequality.Semantic.DeepEqual(before.Status, obj.Status) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	if changed && r.Recorder != nil {
		kind := corev1.EventTypeWarning
		if cond.Status == metav1.ConditionTrue {
			kind = corev1.EventTypeNormal
		}
		r.Recorder.Eventf(obj, nil, kind, cond.Reason, "Load", "%s", cond.Message)
	}
	return nil
}

// CatchUp enqueues every list the API server has (listed uncached) and
// every list held that it no longer has: after an API server outage, while
// the cache's watches may still be backing off, a changed list (or one of
// its ConfigMaps, read fresh meanwhile) is served within a probe interval
// instead of after the watch's backoff. URL sources not due are not
// fetched again.
func (r *IPListReconciler) CatchUp(ctx context.Context, namespaces []string) error {
	if len(namespaces) == 0 {
		namespaces = []string{""}
	}
	fresh := map[types.NamespacedName]bool{}
	for _, ns := range namespaces {
		var list v1alpha1.IPListList
		if err := r.APIReader.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		for i := range list.Items {
			fresh[types.NamespacedName{Namespace: list.Items[i].Namespace, Name: list.Items[i].Name}] = true
		}
	}
	for _, nn := range r.Lists.names() {
		fresh[nn] = true
	}
	for nn := range fresh {
		select {
		case r.leading <- event.GenericEvent{Object: &v1alpha1.IPList{ObjectMeta: metav1.ObjectMeta{Namespace: nn.Namespace, Name: nn.Name}}}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// StartedLeading enqueues every cached list for a status pass; sources
// that are not due are not read again.
func (r *IPListReconciler) StartedLeading(ctx context.Context) {
	enqueueAll(ctx, r.Client, &v1alpha1.IPListList{}, r.leading)
}

// SetupWithManager runs the controller on every replica.
func (r *IPListReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.leading == nil {
		r.leading = make(chan event.GenericEvent, 64)
	}
	if r.HTTP == nil {
		r.HTTP = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("iplist").
		// Status writes do not need another pass.
		For(&v1alpha1.IPList{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// A ConfigMap created, changed or deleted changes the lists reading it.
		WatchesMetadata(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.listsForConfigMap)).
		WatchesRawSource(source.Channel(r.leading, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{
			NeedLeaderElection: ptr.To(false),
			// A slow URL must not hold the other lists back.
			MaxConcurrentReconciles: 4,
			RateLimiter:             workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](100*time.Millisecond, 10*time.Second),
		}).
		Complete(r)
}

func (r *IPListReconciler) listsForConfigMap(ctx context.Context, o client.Object) []reconcile.Request {
	return requestsByIndex(ctx, r.Client, &v1alpha1.IPListList{}, o.GetNamespace(), configMapRefIndex, o.GetName())
}

// configMaps reads a list's ConfigMaps: versions from the metadata cache,
// data from the API server, only when the version changed, and once per
// reconcile however many of the list's keys it holds.
type configMaps struct {
	ns    string
	cache client.Reader
	api   client.Reader
	got   map[string]*corev1.ConfigMap
}

func (c configMaps) Version(ctx context.Context, name string) (string, error) {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
	if err := c.cache.Get(ctx, types.NamespacedName{Namespace: c.ns, Name: name}, m); err != nil {
		if apierrors.IsNotFound(err) {
			return "", iplist.NotFound("the ConfigMap does not exist")
		}
		return "", err
	}
	return m.ResourceVersion, nil
}

func (c configMaps) Value(ctx context.Context, name, key string) ([]byte, error) {
	cm := c.got[name]
	if cm == nil {
		cm = &corev1.ConfigMap{}
		if err := c.api.Get(ctx, types.NamespacedName{Namespace: c.ns, Name: name}, cm); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, iplist.NotFound("the ConfigMap does not exist")
			}
			return nil, err
		}
		c.got[name] = cm
	}
	if v, ok := cm.Data[key]; ok {
		return []byte(v), nil
	}
	if v, ok := cm.BinaryData[key]; ok {
		return v, nil
	}
	return nil, iplist.NotFound("the ConfigMap has no such key")
}
