// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package iplist

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/tokenguard/tokenguard/internal/policy"
)

// DefaultUserAgent is sent with each fetch.
const DefaultUserAgent = "tokenguard-iplist/1 (+https://github.com/tokenguard/tokenguard)"

// Redact returns the URL without a password, for messages and logs.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// fetch downloads and parses a URL source into st. The body is parsed as
// it arrives, and the limit holds while reading: an answer that announces
// or turns out to be larger than MaxBytes fails without being kept whole
// in memory. It sends the validators of the last good answer, so an
// unchanged list answers 304 and is neither downloaded nor parsed again.
// An answer without a single entry is taken for an upstream problem.
func fetch(ctx context.Context, st *sourceState, src URLSource, env Env) *sourceError {
	source := "URL " + Redact(src.URL)
	fail := func(reason string, err error) *sourceError {
		return &sourceError{reason: reason, source: source, err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, src.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.URL, nil)
	if err != nil {
		return fail(ReasonFetchFailed, err)
	}
	req.Header.Set("User-Agent", DefaultUserAgent)
	if st.loaded {
		if st.etag != "" {
			req.Header.Set("If-None-Match", st.etag)
		}
		if st.lastModified != "" {
			req.Header.Set("If-Modified-Since", st.lastModified)
		}
	}
	client := env.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	// A list fetched over HTTPS must not be replaced by one an attacker on
	// the path serves over plain HTTP: refuse redirects that downgrade.
	c := *client
	c.CheckRedirect = noDowngrade
	client = &c
	timedOut := func(err error) error {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("no complete answer within %s", src.Timeout)
		}
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the source already
		}
		return fail(ReasonFetchFailed, timedOut(err))
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
	}()
	switch {
	case resp.StatusCode == http.StatusNotModified && st.loaded:
		return nil
	case resp.StatusCode != http.StatusOK:
		return fail(ReasonFetchFailed, fmt.Errorf("HTTP %s", resp.Status))
	case resp.ContentLength > src.MaxBytes:
		return fail(ReasonTooLarge, fmt.Errorf("the answer announces %d bytes: %w", resp.ContentLength, &TooLargeError{Limit: src.MaxBytes}))
	}
	h := sha256.New()
	var b policy.NetSetBuilder
	n, err := Read(io.TeeReader(resp.Body, h), src.MaxBytes, b.Add)
	if err != nil {
		if e := classify(err, ReasonFetchFailed, source); e.reason != ReasonFetchFailed {
			return e
		}
		return fail(ReasonFetchFailed, timedOut(err))
	}
	if n == 0 {
		return fail(ReasonFetchFailed, errors.New("the answer holds no entries; an empty list is taken for an upstream problem"))
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	if !st.loaded || sum != st.sum {
		st.set, st.sum, st.loaded = b.Build(), sum, true
	}
	st.etag, st.lastModified = resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	return nil
}

// noDowngrade follows at most 10 redirects, none from https to http.
func noDowngrade(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("refusing a redirect from https to %s", Redact(req.URL.String()))
	}
	return nil
}
