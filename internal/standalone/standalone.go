// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package standalone serves TokenPolicies from files, without Kubernetes.
// Each policy is checked against the CRD as the API server would check it
// (internal/crdvalidation), then goes through the same compile step as in
// the cluster. Secret references resolve from a directory laid out like a
// mounted Secret: DIR/<secret-name>/<key>. IPLists are documents in the
// same files, with inline entries, list files and URLs the loader fetches
// and refreshes (see lists.go).
package standalone

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/internal/compiler"
	"github.com/tokenguard/tokenguard/internal/crdvalidation"
	"github.com/tokenguard/tokenguard/internal/metrics"
	"github.com/tokenguard/tokenguard/internal/policy"
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
	// Settle is how long the files must keep the same content before a
	// change is applied (zero: DefaultSettle). A truncated policy file
	// often still parses, as a weaker policy, so a file caught mid-write
	// must not be served: a writer that pauses for less than Settle never
	// has its partial file applied.
	Settle time.Duration
	// Reloads, when set, records reload outcomes of the policy files and
	// the Secrets directory.
	Reloads *metrics.Reloads
	// IPLists, when set, records what each IP list holds.
	IPLists *metrics.IPLists
	// HTTP fetches IP lists' URLs (http.DefaultClient when nil).
	HTTP *http.Client
	// NoFetch leaves IP lists' URLs unfetched (tokenguard validate): a list
	// with a URL then counts as not loaded.
	NoFetch bool
	// Now is the clock of URL refreshes (time.Now when nil).
	Now func() time.Time

	// lists are the IP lists in force, by namespace/name; a list keeps its
	// state (last good content, refresh times) across loads.
	lists map[string]*listState
	// tps are the policies in force, and current the files they came
	// from, to compile again when a list's URL brings new content.
	tps     []*v1alpha1.TokenPolicy
	current *contents

	// fingerprint is of the files in force; rejected, of the last content
	// that failed to load, which is not tried again until it changes.
	fingerprint, rejected [32]byte
	policyRep, secretsRep *metrics.ReloadReporter
	// listPaths are the list files the policy files whose fingerprint is
	// listPathsOf name: the files are parsed for them only when they
	// change, not at every check.
	listPaths   []string
	listPathsOf [32]byte
}

// DefaultSettle is the settle interval when Loader.Settle is zero.
const DefaultSettle = 2 * time.Second

// maxSettleRounds bounds the wait for files to settle: files still changing
// after that many settle intervals are not applied (and, at start, fail it).
const maxSettleRounds = 30

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
// Each policy is checked against the CRD, with its defaults applied, as the
// API server would on create (internal/crdvalidation), so a policy file is
// judged and its problems worded exactly as kubectl would show them.
func Decode(r io.Reader, source string) ([]*v1alpha1.TokenPolicy, error) {
	tps, _, err := DecodeAll(r, source)
	return tps, err
}

// DecodeAll is Decode for TokenPolicies and IPLists, each checked against
// its CRD.
func DecodeAll(r io.Reader, source string) ([]*v1alpha1.TokenPolicy, []*v1alpha1.IPList, error) {
	dec := yaml.NewYAMLOrJSONDecoder(r, 4096)
	var tps []*v1alpha1.TokenPolicy
	var lists []*v1alpha1.IPList
	for i := 0; ; i++ {
		var doc json.RawMessage
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return tps, lists, nil
			}
			return nil, nil, fmt.Errorf("%s: document %d: %w", source, i+1, err)
		}
		obj, err := decodeObject(doc)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: document %d: %w", source, i+1, err)
		}
		switch o := obj.(type) {
		case *v1alpha1.TokenPolicy:
			tps = append(tps, o)
		case *v1alpha1.IPList:
			lists = append(lists, o)
		}
	}
}

// decodeObject checks and decodes one document; it returns nil for a
// document that is neither a TokenPolicy nor an IPList.
func decodeObject(doc json.RawMessage) (any, error) {
	var raw map[string]any
	// As the API server decodes: integers as int64, for the schema and CEL.
	if err := utiljson.Unmarshal(doc, &raw); err != nil {
		return nil, err
	}
	var out any
	switch raw["kind"] {
	case "TokenPolicy":
		out = &v1alpha1.TokenPolicy{}
	case "IPList":
		out = &v1alpha1.IPList{}
	default:
		return nil, nil
	}
	if av, _ := raw["apiVersion"].(string); av != v1alpha1.GroupVersion.String() {
		return nil, fmt.Errorf("apiVersion %q, want %s", av, v1alpha1.GroupVersion)
	}
	meta, _ := raw["metadata"].(map[string]any)
	if name, _ := meta["name"].(string); name == "" {
		return nil, errors.New("metadata.name is required")
	}
	if ns, _ := meta["namespace"].(string); ns == "" {
		meta["namespace"] = "default"
	}
	if err := crdvalidation.Admit(context.Background(), raw); err != nil {
		return nil, err
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	if err := sigsyaml.UnmarshalStrict(b, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Load reads and compiles every policy once and publishes them. Any file or
// policy that does not load fails the whole load, and the store keeps what
// it had: a half-applied set of policies could lift blocks. Load does not
// wait for the files to settle: it is for files that are not being written
// (validate, decide); the service starts with LoadSettled. A failure is
// returned, not reported: the caller decides what it means.
func (l *Loader) Load(ctx context.Context) error {
	c, err := l.read()
	if err == nil {
		err = l.load(ctx, c)
	}
	if err == nil {
		l.report(nil)
	}
	return err
}

// LoadSettled is Load for the service's start: it reads the files until two
// reads a settle interval apart agree, so a file caught mid-write at start
// is not served either, and then loads them. Until it returns the store is
// not ready. Files still changing after maxSettleRounds settle intervals
// fail it. Like Load, it returns a failure rather than reporting it.
func (l *Loader) LoadSettled(ctx context.Context) error {
	c, err := l.read()
	if err == nil {
		c, err = l.settled(ctx, c)
	}
	if err == nil {
		err = l.load(ctx, c)
	}
	if err == nil {
		l.report(nil)
	}
	return err
}

// settled re-reads the files a settle interval after c was read, until two
// reads in a row agree, and returns the last read.
func (l *Loader) settled(ctx context.Context, c *contents) (*contents, error) {
	settle := l.Settle
	if settle <= 0 {
		settle = DefaultSettle
	}
	err := wait.PollUntilContextTimeout(ctx, settle, maxSettleRounds*settle, false, func(context.Context) (bool, error) {
		next, err := l.read()
		if err != nil {
			return false, err
		}
		stable := next.sum == c.sum
		c = next
		return stable, nil
	})
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case wait.Interrupted(err):
		return nil, fmt.Errorf("policy files or Secret keys still changing after %s; write them to a temporary file and rename it into place", maxSettleRounds*settle)
	case err != nil:
		return nil, err
	}
	return c, nil
}

// source is one policy file's contents.
type source struct {
	path string
	data []byte
}

// contents is one read of the policy files, the list files they name and
// the Secrets directory.
type contents struct {
	srcs []source
	// files are the IP list files the policy files name, by path.
	files map[string][]byte
	// secrets holds the keys read, by Secret name and key: policies compile
	// with exactly the keys fingerprinted, never a later, partial write.
	secrets map[[2]string][]byte
	dir     string
	sum     [32]byte
}

// SecretValue implements compiler.SecretReader from the keys read; names
// not read (invalid or absent) get DirSecrets' answer.
func (c *contents) SecretValue(ctx context.Context, namespace, name, key string) ([]byte, error) {
	if b, ok := c.secrets[[2]string{name, key}]; ok {
		return b, nil
	}
	return DirSecrets{Dir: c.dir}.SecretValue(ctx, namespace, name, key)
}

// read reads the policy files once, and fingerprints them together with the
// Secrets directory, so that an edited policy or a rotated key (a mounted
// Secret's symlink swap) is noticed.
func (l *Loader) read() (*contents, error) {
	files, err := l.files()
	if err != nil {
		return nil, err
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
	c := &contents{srcs: make([]source, 0, len(files)), secrets: map[[2]string][]byte{}, dir: l.SecretsDir, files: map[string][]byte{}}
	for _, f := range files {
		b, err := add(f)
		if err != nil {
			return nil, err
		}
		c.srcs = append(c.srcs, source{path: f, data: b})
	}
	// The list files, fingerprinted with the policies: an edited list is
	// reloaded, and one caught mid-write is not applied, like a policy file.
	if sum := [32]byte(h.Sum(nil)); l.listPaths == nil || sum != l.listPathsOf {
		l.listPaths, l.listPathsOf = listFiles(c.srcs), sum
		if l.listPaths == nil {
			l.listPaths = []string{}
		}
	}
	for _, f := range l.listPaths {
		b, err := add(f)
		if err != nil {
			return nil, fmt.Errorf("IP list file: %w", err)
		}
		c.files[f] = b
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
			b, err := add(p)
			rel, _ := filepath.Rel(l.SecretsDir, p)
			if name, key, ok := strings.Cut(filepath.ToSlash(rel), "/"); err == nil && ok && !strings.Contains(key, "/") {
				c.secrets[[2]string{name, key}] = b
			}
			return err
		})
		if err != nil {
			return nil, &secretsDirError{err}
		}
	}
	copy(c.sum[:], h.Sum(nil))
	return c, nil
}

func (l *Loader) load(ctx context.Context, c *contents) error {
	var tps []*v1alpha1.TokenPolicy
	var ipls []*v1alpha1.IPList
	dirs := map[*v1alpha1.IPList]string{}
	for _, src := range c.srcs {
		got, lists, err := DecodeAll(bytes.NewReader(src.data), src.path)
		if err != nil {
			return err
		}
		tps = append(tps, got...)
		for _, il := range lists {
			dirs[il] = filepath.Dir(src.path)
		}
		ipls = append(ipls, lists...)
	}
	lists, err := l.loadLists(ctx, c, ipls, dirs)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, tp := range tps {
		key := compiler.Key(tp.Namespace, tp.Name)
		if seen[key] {
			return fmt.Errorf("policy %s is defined twice", key)
		}
		seen[key] = true
		if n := tp.Spec.Networks; n != nil {
			for _, name := range append(append([]v1alpha1.IPListName(nil), n.BlockedLists...), n.TrustedLists...) {
				if lists[compiler.Key(tp.Namespace, string(name))] == nil {
					return fmt.Errorf("policy %s names IPList %s, which no policy file defines (in namespace %s)", key, name, tp.Namespace)
				}
			}
		}
	}
	ps, err := l.compile(ctx, tps, c, lists)
	if err != nil {
		return err
	}
	l.forgetLists(lists)
	l.lists, l.tps, l.current = lists, tps, c
	l.fingerprint = c.sum
	l.publish(ps)
	l.Log.Info("policies loaded", "files", len(c.srcs), "policies", len(ps), "ipLists", len(lists))
	return nil
}

// compile compiles the policies against the lists, as loaded now.
func (l *Loader) compile(ctx context.Context, tps []*v1alpha1.TokenPolicy, c *contents, lists map[string]*listState) ([]*policy.Policy, error) {
	ps := make([]*policy.Policy, 0, len(tps))
	for _, tp := range tps {
		key := compiler.Key(tp.Namespace, tp.Name)
		p, err := compiler.CompileWith(ctx, tp, c, fileLists(lists))
		if !compiler.Served(err) {
			return nil, fmt.Errorf("policy %s: %w", key, err)
		}
		if compiler.IsSecretError(err) && !l.AbuseIPDBDisabled {
			var se *compiler.SecretError
			errors.As(err, &se)
			l.Log.Info("policy served, but its AbuseIPDB key is unusable: onFailure applies", "policy", key, "problem", se.Error())
		}
		for _, le := range compiler.ListErrors(err) {
			if !l.NoFetch {
				l.Log.Info("policy served without an IP list it names", "policy", key, "problem", le.Error())
			}
		}
		ps = append(ps, p)
	}
	return ps, nil
}

func (l *Loader) publish(ps []*policy.Policy) {
	l.Store.Replace(ps)
	l.Store.MarkReady()
	if l.OnChange != nil {
		l.OnChange(l.Store.Load())
	}
}

// secretsDirError is a failure to read the Secrets directory, told apart
// from the policy files' for the reload metrics.
type secretsDirError struct{ err error }

func (e *secretsDirError) Error() string { return "secrets dir: " + e.err.Error() }
func (e *secretsDirError) Unwrap() error { return e.err }

// Watch reloads when the policy files, the IP list files they name or
// Secret keys change and have kept their new content for a settle
// interval, and fetches IP lists' URLs when they are due. Content that fails to load is
// reported once and not tried again until it changes. It returns when ctx
// ends. It polls rather than using inotify: mounted ConfigMaps and Secrets
// are replaced by symlink swaps that watches on the files miss.
func (l *Loader) Watch(ctx context.Context, interval time.Duration) {
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		l.check(ctx)
		l.refreshLists(ctx)
	}, interval)
}

// check applies the files if they changed and settled.
func (l *Loader) check(ctx context.Context) {
	c, err := l.read()
	if err == nil && c.sum == l.fingerprint {
		if l.failing() {
			l.report(nil) // back to the files in force
		}
		return
	}
	if err == nil && c.sum == l.rejected {
		return
	}
	if err == nil {
		c, err = l.settled(ctx, c)
	}
	if ctx.Err() != nil || (err == nil && (c.sum == l.fingerprint || c.sum == l.rejected)) {
		return
	}
	if err == nil {
		if err = l.load(ctx, c); err != nil {
			l.rejected = c.sum
		}
	}
	l.report(err)
}

// report records a load's outcome: a Secrets directory that cannot be read
// is that source's failure, any other failure the policy files'.
func (l *Loader) report(err error) {
	l.reporters()
	const msg = "policy files or Secret keys changed but do not load; serving the previous policies"
	var sde *secretsDirError
	switch {
	case err == nil:
		l.policyRep.Succeeded()
		if l.secretsRep != nil {
			l.secretsRep.Succeeded()
		}
	case errors.As(err, &sde) && l.secretsRep != nil:
		l.secretsRep.Failed(msg, err)
	default:
		l.policyRep.Failed(msg, err)
	}
}

func (l *Loader) failing() bool {
	l.reporters()
	return l.policyRep.Failing() || (l.secretsRep != nil && l.secretsRep.Failing())
}

func (l *Loader) reporters() {
	if l.policyRep != nil {
		return
	}
	l.policyRep = l.Reloads.Reporter(metrics.SourcePolicyFiles, l.Log)
	if l.SecretsDir != "" {
		l.secretsRep = l.Reloads.Reporter(metrics.SourceSecretsDir, l.Log)
	}
}
