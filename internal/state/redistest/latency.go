// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package redistest

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Distant returns the URL of a TCP proxy in front of s that delays every
// chunk it forwards, in each direction, by oneWay: a server a network
// away (in another zone, oneWay about 0.5 ms) on loopback, so that
// benchmarks show what round trips cost where the network, not the CPU,
// dominates. The proxy closes with the test.
func (s *Server) Distant(t testing.TB, oneWay time.Duration) string {
	t.Helper()
	ln, err := new(net.ListenConfig).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := new(net.Dialer).DialContext(t.Context(), "tcp", s.Addr())
			if err != nil {
				_ = c.Close()
				continue
			}
			track(c)
			track(up)
			wg.Go(func() { delayCopy(up, c, oneWay) })
			wg.Go(func() { delayCopy(c, up, oneWay) })
		}
	})
	return "redis://" + ln.Addr().String() + "/0"
}

// delayCopy forwards what src sends to dst, each chunk oneWay after it
// arrived, in order, and closes both ends when either does.
func delayCopy(dst, src net.Conn, oneWay time.Duration) {
	type chunk struct {
		b  []byte
		at time.Time
	}
	ch := make(chan chunk, 1024)
	go func() {
		defer close(ch)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				ch <- chunk{buf[:n], time.Now().Add(oneWay)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		time.Sleep(time.Until(c.at))
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	_ = dst.Close()
	_ = src.Close()
	for range ch { // let the reader end
	}
}
