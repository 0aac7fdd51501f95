// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package serve

import (
	"bytes"
	"context"
	"crypto/tls"
	"os"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/tokenguard/tokenguard/internal/metrics"
)

// TLSReloader serves a certificate and key pair from files and swaps in a
// renewed pair when both files parse and match. A pair caught mid-rotation
// (a new certificate with the old key, or a half-written file) does not
// parse and leaves the previous pair in force; the failure is reported once
// per cause, not at each check.
//
// Why not controller-runtime's certwatcher: it logs every failed read with
// a stack trace at each poll, and has no hook to count failures per source.
type TLSReloader struct {
	certPath, keyPath string
	report            *metrics.ReloadReporter
	cur               atomic.Pointer[tls.Certificate]
	certPEM, keyPEM   []byte
}

// NewTLSReloader loads the pair once; report may be nil.
func NewTLSReloader(certPath, keyPath string, report *metrics.ReloadReporter) (*TLSReloader, error) {
	r := &TLSReloader{certPath: certPath, keyPath: keyPath, report: report}
	if err := r.reload(); err != nil {
		return nil, err
	}
	if report != nil {
		report.Succeeded()
	}
	return r, nil
}

// GetCertificate is tls.Config's hook.
func (r *TLSReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

// Watch checks the files every interval (default 10s) until ctx ends.
func (r *TLSReloader) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	wait.UntilWithContext(ctx, func(context.Context) {
		err := r.reload()
		if r.report == nil {
			return
		}
		if err != nil {
			r.report.Failed("TLS certificate or key changed but does not load; serving the previous pair", err,
				"cert", r.certPath, "key", r.keyPath)
			return
		}
		r.report.Succeeded()
	}, interval)
}

// reload reads both files and swaps in the pair when it changed and parses.
func (r *TLSReloader) reload() error {
	certPEM, err := os.ReadFile(r.certPath)
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(r.keyPath)
	if err != nil {
		return err
	}
	if bytes.Equal(certPEM, r.certPEM) && bytes.Equal(keyPEM, r.keyPEM) {
		return nil
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return err
	}
	r.certPEM, r.keyPEM = certPEM, keyPEM
	r.cur.Store(&cert)
	return nil
}
