// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package abuseipdbtest is a loopback HTTP server that speaks AbuseIPDB's
// documented /api/v2/check contract: the Key header, ipAddress and
// maxAgeInDays parameters, {"data": {...}} answers, {"errors": [...]} with
// 401, 403, 422 and 429, and the X-RateLimit-* and Retry-After headers.
package abuseipdbtest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Mode is how the fake answers.
type Mode int

// Modes.
const (
	Normal        Mode = iota
	Hang               // never answers until the client gives up
	ServerError        // 500 with an error body
	Garbage            // 200 with a body that is not the documented JSON
	RateLimited        // 429 with Retry-After
	QuotaLastCall      // 200, then X-RateLimit-Remaining: 0
	Forbidden          // 403, as for a key AbuseIPDB blocked
)

// Server is the fake.
type Server struct {
	*httptest.Server
	// Key is the API key it accepts; SetKey changes it while serving.
	Key string

	mu     sync.Mutex
	scores map[netip.Addr]int
	mode   Mode
	delay  time.Duration
	// RetryAfter is sent with 429 answers (seconds).
	RetryAfter int

	calls   atomic.Int64
	lastAge atomic.Int64
	release chan struct{}
}

// New starts a fake that accepts key and knows the given scores; unknown
// public addresses score 0. It stops when the test ends.
func New(t testing.TB, key string, scores map[string]int) *Server {
	s := NewServer(key, scores)
	t.Cleanup(s.Stop)
	return s
}

// NewServer starts a fake outside a test (the load tool); call Stop.
func NewServer(key string, scores map[string]int) *Server {
	return NewServerOn(nil, key, scores)
}

// NewServerOn is NewServer on a listener of the caller's (nil: loopback), for
// pods that reach the fake on the node's address.
func NewServerOn(ln net.Listener, key string, scores map[string]int) *Server {
	s := &Server{Key: key, scores: map[netip.Addr]int{}, RetryAfter: 60, release: make(chan struct{})}
	for ip, sc := range scores {
		s.scores[netip.MustParseAddr(ip)] = sc
	}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	if ln != nil {
		_ = s.Listener.Close()
		s.Listener = ln
	}
	s.Start()
	return s
}

// Stop releases hanging requests and closes the server.
func (s *Server) Stop() {
	close(s.release)
	s.Close()
}

// SeedScores are the scores of the seed use case's test addresses.
var SeedScores = map[string]int{
	"175.45.176.0":    0,
	"103.159.198.178": 100,
	"14.102.69.58":    50,
	"205.210.31.51":   10,
}

// URL is the API base to give the client.
func (s *Server) URL() string { return s.Server.URL + "/api/v2" }

// SetMode changes how the fake answers.
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = m
}

// SetKey changes the accepted API key (a rotated or reinstated key).
func (s *Server) SetKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Key = key
}

// SetDelay delays every answer.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// SetScore sets an address's score.
func (s *Server) SetScore(ip string, score int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scores[netip.MustParseAddr(ip)] = score
}

// Calls is the number of /check requests received.
func (s *Server) Calls() int64 { return s.calls.Load() }

// LastMaxAge is the maxAgeInDays of the last request (0 if absent).
func (s *Server) LastMaxAge() int64 { return s.lastAge.Load() }

func writeErrors(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{"detail": detail, "status": status}}})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v2/check" || r.Method != http.MethodGet {
		writeErrors(w, http.StatusNotFound, "not found")
		return
	}
	s.calls.Add(1)
	s.mu.Lock()
	mode, delay, key := s.mode, s.delay, s.Key
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	switch mode {
	case Hang:
		select {
		case <-r.Context().Done():
		case <-s.release:
		}
		return
	case ServerError:
		writeErrors(w, http.StatusInternalServerError, "internal error")
		return
	case Garbage:
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>maintenance</html>"))
		return
	case RateLimited:
		w.Header().Set("Retry-After", strconv.Itoa(s.RetryAfter))
		w.Header().Set("X-RateLimit-Limit", "1000")
		w.Header().Set("X-RateLimit-Remaining", "0")
		writeErrors(w, http.StatusTooManyRequests, fmt.Sprintf("Daily rate limit of 1000 requests exceeded for this endpoint. Try again in %d seconds.", s.RetryAfter))
		return
	case Forbidden:
		writeErrors(w, http.StatusForbidden, "Your account is not allowed to use this endpoint.")
		return
	}
	if r.Header.Get("Key") != key {
		writeErrors(w, http.StatusUnauthorized, "Authentication failed. Your API key is either missing, incorrect, or revoked. Note: The APIv2 key differs from the APIv1 key.")
		return
	}
	q := r.URL.Query()
	ip, err := netip.ParseAddr(q.Get("ipAddress"))
	if err != nil {
		writeErrors(w, http.StatusUnprocessableEntity, "The ip address must be a valid IPv4 or IPv6 address (e.g. 8.8.8.8 or 2001:4860:4860::8888).")
		return
	}
	if v := q.Get("maxAgeInDays"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 365 {
			writeErrors(w, http.StatusUnprocessableEntity, "The max age in days must be between 1 and 365.")
			return
		}
		s.lastAge.Store(int64(n))
	} else {
		s.lastAge.Store(0)
	}
	s.mu.Lock()
	score := s.scores[ip]
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-RateLimit-Limit", "1000")
	if mode == QuotaLastCall {
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
	} else {
		w.Header().Set("X-RateLimit-Remaining", "999")
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{
		"ipAddress": ip.String(), "isPublic": true, "ipVersion": map[bool]int{true: 4, false: 6}[ip.Is4()],
		"isWhitelisted": false, "abuseConfidenceScore": score, "countryCode": nil,
		"usageType": "Data Center/Web Hosting/Transit", "isp": "Example", "domain": "example.com",
		"hostnames": []string{}, "isTor": false, "totalReports": score, "numDistinctUsers": 1, "lastReportedAt": nil,
	}})
}
