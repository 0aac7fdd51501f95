// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package standalone serves TokenPolicies from files, without Kubernetes.
// Policies go through the same compile step as in the cluster; Secret
// references resolve from a directory laid out like a mounted Secret:
// DIR/<secret-name>/<key>.
package standalone

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/internal/compiler"
	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/poll"
)

// DirSecrets reads Secret keys from DIR/<name>/<key>.
type DirSecrets struct {
	Dir string
}

// SecretValue implements compiler.SecretReader.
func (d DirSecrets) SecretValue(_ context.Context, namespace, name, key string) ([]byte, error) {
	if d.Dir == "" {
		return nil, &compiler.SecretError{Namespace: namespace, Name: name, Key: key, Missing: true, Detail: "no --secrets-dir was given"}
	}
	if strings.ContainsAny(name, `/\`) || strings.ContainsAny(key, `/\`) || name == ".." || key == ".." {
		return nil, &compiler.SecretError{Namespace: namespace, Name: name, Key: key, Detail: "invalid name"}
	}
	b, err := os.ReadFile(filepath.Join(d.Dir, name, key)) //nolint:gosec // names are checked above
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &compiler.SecretError{Namespace: namespace, Name: name, Key: key, Missing: true,
			Detail: "no file " + filepath.Join(d.Dir, name, key)}
	}
	return b, err
}

// Loader reads policy files and keeps a store current.
type Loader struct {
	Paths []string
	// SecretsDir holds Secret keys as SecretsDir/<name>/<key>.
	SecretsDir string
	Store      *policy.Store
	Log        logr.Logger
	// OnChange, when set, is called after each published snapshot.
	OnChange func(*policy.Snapshot)
	// AbuseIPDBDisabled silences the warning about unusable API keys: with
	// AbuseIPDB switched off the keys are not used.
	AbuseIPDBDisabled bool

	fingerprint [32]byte
}

// files lists the policy files: each path is a file, or a directory whose
// .yaml, .yml and .json files are read (not recursively).
func (l *Loader) files() ([]string, error) {
	var out []string
	for _, p := range l.Paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			switch strings.ToLower(filepath.Ext(e.Name())) {
			case ".yaml", ".yml", ".json":
				if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
					out = append(out, filepath.Join(p, e.Name()))
				}
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// Decode reads every TokenPolicy in a multi-document YAML or JSON stream.
// Documents of other kinds (a Secret beside the policy, say) are skipped.
func Decode(r io.Reader, source string) ([]*v1alpha1.TokenPolicy, error) {
	dec := yaml.NewYAMLOrJSONDecoder(r, 4096)
	var out []*v1alpha1.TokenPolicy
	for i := 0; ; i++ {
		var raw map[string]any
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("%s: document %d: %w", source, i+1, err)
		}
		if raw == nil || raw["kind"] != "TokenPolicy" {
			continue
		}
		if av, _ := raw["apiVersion"].(string); av != v1alpha1.GroupVersion.String() {
			return nil, fmt.Errorf("%s: document %d: apiVersion %q, want %s", source, i+1, av, v1alpha1.GroupVersion)
		}
		b, err := sigsyaml.Marshal(raw)
		if err != nil {
			return nil, err
		}
		var tp v1alpha1.TokenPolicy
		if err := sigsyaml.UnmarshalStrict(b, &tp); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, i+1, err)
		}
		if tp.Name == "" {
			return nil, fmt.Errorf("%s: document %d: metadata.name is required", source, i+1)
		}
		if tp.Namespace == "" {
			tp.Namespace = "default"
		}
		out = append(out, &tp)
	}
}

// Load reads and compiles every policy and publishes them. Any file or
// policy that does not load fails the whole load, and the store keeps what
// it had: a half-applied set of policies could lift blocks.
func (l *Loader) Load(ctx context.Context) error {
	srcs, sum, err := l.read()
	if err != nil {
		return err
	}
	return l.load(ctx, srcs, sum)
}

// source is one policy file's contents.
type source struct {
	path string
	data []byte
}

// read reads the policy files once, and fingerprints them together with the
// Secrets directory, so that an edited policy or a rotated key (a mounted
// Secret's symlink swap) is noticed.
func (l *Loader) read() ([]source, [32]byte, error) {
	var sum [32]byte
	files, err := l.files()
	if err != nil {
		return nil, sum, err
	}
	h := sha256.New()
	add := func(f string) ([]byte, error) {
		b, err := os.ReadFile(f) //nolint:gosec // operator-supplied paths
		if err != nil {
			return nil, err
		}
		_, _ = h.Write([]byte(f))
		_, _ = h.Write(b)
		return b, nil
	}
	srcs := make([]source, 0, len(files))
	for _, f := range files {
		b, err := add(f)
		if err != nil {
			return nil, sum, err
		}
		srcs = append(srcs, source{path: f, data: b})
	}
	if l.SecretsDir != "" {
		err := filepath.WalkDir(l.SecretsDir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || strings.HasPrefix(d.Name(), "..") {
				// Skip the ..data timestamp folders of a mounted Secret; the
				// files are reached through their symlinks.
				if err == nil && d.IsDir() && p != l.SecretsDir {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			_, err = add(p)
			return err
		})
		if err != nil {
			return nil, sum, err
		}
	}
	copy(sum[:], h.Sum(nil))
	return srcs, sum, nil
}

func (l *Loader) load(ctx context.Context, srcs []source, sum [32]byte) error {
	var tps []*v1alpha1.TokenPolicy
	for _, src := range srcs {
		got, err := Decode(bytes.NewReader(src.data), src.path)
		if err != nil {
			return err
		}
		tps = append(tps, got...)
	}
	ps := make([]*policy.Policy, 0, len(tps))
	seen := map[string]bool{}
	for _, tp := range tps {
		key := compiler.Key(tp.Namespace, tp.Name)
		if seen[key] {
			return fmt.Errorf("policy %s is defined twice", key)
		}
		seen[key] = true
		p, err := compiler.Compile(ctx, tp, DirSecrets{Dir: l.SecretsDir})
		switch {
		case compiler.IsSecretError(err) && l.AbuseIPDBDisabled:
		case compiler.IsSecretError(err):
			l.Log.Info("policy served, but its AbuseIPDB key is unusable: onFailure applies", "policy", key, "problem", err.Error())
		case err != nil:
			return fmt.Errorf("policy %s: %w", key, err)
		}
		ps = append(ps, p)
	}
	l.fingerprint = sum
	l.Store.Replace(ps)
	l.Store.MarkReady()
	if l.OnChange != nil {
		l.OnChange(l.Store.Load())
	}
	l.Log.Info("policies loaded", "files", len(srcs), "policies", len(ps))
	return nil
}

// Watch reloads when the policy files or Secret keys change. It returns when ctx ends.
func (l *Loader) Watch(ctx context.Context, interval time.Duration) {
	poll.Every(ctx, interval, func(ctx context.Context) {
		srcs, sum, err := l.read()
		if err == nil && sum == l.fingerprint {
			return
		}
		if err == nil {
			err = l.load(ctx, srcs, sum)
		}
		if err != nil {
			l.Log.Error(err, "policy files changed but do not load; serving the previous policies")
		}
	})
}
