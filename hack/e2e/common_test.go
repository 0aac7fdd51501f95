//go:build e2e || cluster

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	tu "github.com/tokenguard/tokenguard/internal/testutil"
)

// envtest logs through controller-runtime's logger; keep it quiet.
func init() { ctrllog.SetLogger(logr.Discard()) }

// blockedIP is in 175.45.176.0/22 (KP in the test GeoIP database and in
// DB-IP Lite), which the policies under load block.
const blockedIP = "175.45.176.1"

type cluster struct {
	t          *testing.T
	kubectl    string
	kubeconfig string
}

// run runs a command, feeding stdin, and fails the test on error.
func (c *cluster) run(stdin string, name string, args ...string) string {
	c.t.Helper()
	out, err := c.try(stdin, name, args...)
	if err != nil {
		c.t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out
}

func (c *cluster) try(stdin string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (c *cluster) k(args ...string) string { c.t.Helper(); return c.run("", c.kubectl, args...) }

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitReady polls /readyz on the probe address until it answers 200.
func waitReady(t *testing.T, probes string, timeout time.Duration) {
	t.Helper()
	tu.Eventually(t, timeout, "readyz", func() error {
		resp, err := http.Get("http://" + probes + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
}

// outcome of one call.
type outcome struct {
	at          time.Time
	failed      bool // no answer, or not 200 FAILED/SUCCESS
	letThrough  bool // SUCCESS for the blocked address
	description string
}

// loadSpec is a steady load of one call, repeated.
type loadSpec struct {
	URL  string
	Rate int // calls a second
	// IP is the client address sent; a policy must deny it (default blockedIP).
	IP string
	// Header is added to each call (endpoint authentication).
	Header http.Header
	// Bound stops the load whatever happens (default 3 minutes).
	Bound time.Duration
}

// loadGen sends the call at a steady rate until stopped.
type loadGen struct {
	mu   sync.Mutex
	out  []outcome
	stop chan struct{}
	wg   sync.WaitGroup
}

func startLoad(t *testing.T, s loadSpec) *loadGen {
	t.Helper()
	if s.IP == "" {
		s.IP = blockedIP
	}
	if s.Bound == 0 {
		s.Bound = 3 * time.Minute
	}
	body := tu.JSON(t, tu.Request(s.IP))
	g := &loadGen{stop: make(chan struct{})}
	client := &http.Client{Timeout: 3 * time.Second}
	const workers = 4
	interval := time.Second * workers / time.Duration(s.Rate)
	deadline := time.Now().Add(s.Bound)
	for range workers {
		g.wg.Go(func() {
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for time.Now().Before(deadline) {
				select {
				case <-g.stop:
					return
				case <-tick.C:
				}
				o := call(client, s.URL, body, s.Header)
				g.mu.Lock()
				g.out = append(g.out, o)
				g.mu.Unlock()
			}
		})
	}
	return g
}

func call(client *http.Client, url string, body []byte, header http.Header) outcome {
	o := outcome{}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	o.at = time.Now()
	if err != nil {
		o.failed, o.description = true, err.Error()
		return o
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	s := string(b)
	switch {
	case resp.StatusCode == 200 && strings.Contains(s, `"actionStatus":"SUCCESS"`):
		o.letThrough, o.description = true, s
	case resp.StatusCode == 200 && strings.Contains(s, `"actionStatus":"FAILED"`):
	default:
		o.failed, o.description = true, fmt.Sprintf("%d %s", resp.StatusCode, s)
	}
	return o
}

// snapshot returns what happened so far.
func (g *loadGen) snapshot() []outcome {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]outcome(nil), g.out...)
}

// finish stops the load and returns what happened.
func (g *loadGen) finish() []outcome {
	close(g.stop)
	g.wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.out
}

// tally counts the outcomes within [from, to) (zero times: unbounded).
func tally(out []outcome, from, to time.Time) (sent, failed, letThrough int, first string) {
	for _, o := range out {
		if (!from.IsZero() && o.at.Before(from)) || (!to.IsZero() && !o.at.Before(to)) {
			continue
		}
		sent++
		if o.failed {
			failed++
		}
		if o.letThrough {
			letThrough++
		}
		if (o.failed || o.letThrough) && first == "" {
			first = o.description
		}
	}
	return sent, failed, letThrough, first
}

// report prints one scenario's line and fails on what it must not see.
func report(t *testing.T, scenario string, sent, failed, letThrough int, first string, failuresAllowed bool) {
	t.Helper()
	line := fmt.Sprintf("chaos: %-44s sent %5d  failed %4d  let through %d", scenario, sent, failed, letThrough)
	fmt.Println(line)
	if sent == 0 {
		t.Errorf("%s: no call was sent", scenario)
	}
	if letThrough > 0 || (!failuresAllowed && failed > 0) {
		t.Errorf("%s; first bad answer: %s", line, first)
	}
}
