// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package standalone

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/internal/compiler"
	"github.com/tokenguard/tokenguard/internal/iplist"
	"github.com/tokenguard/tokenguard/internal/policy"
)

// IP lists in standalone mode are IPList documents in the policy files.
// Their entries and files are part of the configuration: a bad line fails
// the load like a bad policy (at start, the start; later, the reload, and
// the previous policies stay in force). Their URLs are not: a URL that
// fails keeps the list's last good content (or, never loaded, the
// missing-list rule applies) and is retried, without failing the load.
// The loader fetches each URL at start, before the first snapshot, and
// again on its refresh interval. A policy naming a list no file defines
// fails the load: with every document at hand, that is a mistake, not a
// list still on its way.

// listState is one IPList in force: its spec and its loaded state.
type listState struct {
	list iplist.List
	spec iplist.Spec
	// next is when its URL is due for a refresh.
	next time.Time
}

func (l *Loader) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// listFiles finds the list files the IPList documents name, resolved
// against their policy file's directory. Documents that do not parse are
// left to the load, which reports them.
func listFiles(srcs []source) []string {
	var out []string
	for _, src := range srcs {
		dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(src.data), 4096)
		for {
			var doc struct {
				Kind string `json:"kind"`
				Spec struct {
					File string `json:"file"`
				} `json:"spec"`
			}
			var raw json.RawMessage
			if dec.Decode(&raw) != nil {
				break
			}
			if json.Unmarshal(raw, &doc) != nil || doc.Kind != "IPList" || doc.Spec.File == "" {
				continue
			}
			if p := resolve(filepath.Dir(src.path), doc.Spec.File); !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out
}

// resolve makes a list file's path absolute against dir.
func resolve(dir, file string) string {
	if filepath.IsAbs(file) {
		return filepath.Clean(file)
	}
	return filepath.Join(dir, file)
}

// loadLists loads the IPLists of one read of the files. A list already in
// force keeps its state: a URL not due is not fetched again.
func (l *Loader) loadLists(ctx context.Context, c *contents, ipls []*v1alpha1.IPList, dirs map[*v1alpha1.IPList]string) (map[string]*listState, error) {
	out := make(map[string]*listState, len(ipls))
	for _, il := range ipls {
		key := compiler.Key(il.Namespace, il.Name)
		if out[key] != nil {
			return nil, fmt.Errorf("IPList %s is defined twice", key)
		}
		st := l.lists[key]
		if st == nil {
			st = &listState{}
		}
		st.spec = compiler.ListSpec(il)
		if st.spec.File != "" {
			st.spec.File = resolve(dirs[il], st.spec.File)
		}
		out[key] = st
		res, ran := l.loadList(ctx, key, st, c)
		if !ran {
			continue
		}
		for _, f := range res.Failures {
			if f.Source != iplist.SourceURL {
				return nil, fmt.Errorf("IPList %s: %w", key, f.Err)
			}
		}
	}
	return out, nil
}

// loadList runs one load of a list against the files read in c; it
// reports false when there was nothing to load (a URL-only list with
// NoFetch).
func (l *Loader) loadList(ctx context.Context, key string, st *listState, c *contents) (iplist.Result, bool) {
	s := st.spec
	if l.NoFetch {
		s.URL = nil
		if len(s.Entries) == 0 && len(s.ConfigMaps) == 0 && s.File == "" {
			return iplist.Result{}, false
		}
	}
	before, _ := st.list.Status()
	res := st.list.Load(ctx, s, iplist.Env{
		ReadFile: func(p string) ([]byte, error) {
			if b, ok := c.files[p]; ok {
				return b, nil
			}
			return nil, fmt.Errorf("%s: %w", p, fs.ErrNotExist)
		},
		HTTP: l.HTTP,
		Now:  l.Now,
	})
	if s.URL != nil {
		st.next = l.now().Add(res.RefreshIn)
	}
	content := st.list.Content()
	entries := 0
	if content != nil {
		entries = content.Entries
	}
	if res.Changed || res.Ready != before.Ready || res.Reason != before.Reason {
		l.Log.Info("IP list loaded", "list", key, "ready", res.Ready, "reason", res.Reason, "entries", entries, "message", res.Message)
	}
	ns, name, _ := cutKey(key)
	l.IPLists.ObserveIPList(ns, name, entries, res.Ready, res.Reason, res.LastSuccess)
	return res, true
}

func cutKey(key string) (namespace, name string, ok bool) {
	return strings.Cut(key, "/")
}

// forgetLists drops the metrics of lists no longer defined.
func (l *Loader) forgetLists(next map[string]*listState) {
	for key := range l.lists {
		if next[key] == nil {
			ns, name, _ := cutKey(key)
			l.IPLists.ForgetIPList(ns, name)
		}
	}
}

// refreshLists fetches the URLs that are due and, when a list's content
// changed, compiles the policies in force again.
func (l *Loader) refreshLists(ctx context.Context) {
	if l.current == nil || l.NoFetch {
		return
	}
	now, changed := l.now(), false
	for key, st := range l.lists {
		if st.spec.URL == nil || now.Before(st.next) {
			continue
		}
		before, _ := st.list.Status()
		res, _ := l.loadList(ctx, key, st, l.current)
		changed = changed || res.Changed || (st.list.Content() == nil && res.Reason != before.Reason)
	}
	if !changed || ctx.Err() != nil {
		return
	}
	ps, err := l.compile(ctx, l.tps, l.current, l.lists)
	if err != nil {
		l.Log.Error(err, "policies do not compile with the refreshed IP lists; serving the previous snapshot")
		return
	}
	l.publish(ps)
	l.Log.Info("policies compiled with refreshed IP lists", "policies", len(ps))
}

// fileLists is the compiler's ListReader in standalone mode.
type fileLists map[string]*listState

func (f fileLists) IPList(_ context.Context, namespace, name string) (*policy.NetSet, error) {
	st := f[compiler.Key(namespace, name)]
	if st == nil {
		return nil, &compiler.ListError{Namespace: namespace, Name: name, Detail: "is not defined in the policy files"}
	}
	if c := st.list.Content(); c != nil {
		return c.Set, nil
	}
	status, attempted := st.list.Status()
	if !attempted {
		return nil, &compiler.ListError{Namespace: namespace, Name: name, Detail: "has not been fetched"}
	}
	return nil, &compiler.ListError{Namespace: namespace, Name: name, Detail: "has never loaded (" + status.Reason + ")"}
}
