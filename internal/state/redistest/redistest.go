// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package redistest runs a real redis-server for tests: one per test, on a
// free port of 127.0.0.1, without persistence, stopped at cleanup. Tests
// that need Redis fail (never skip) when redis-server is not installed, so
// that a machine without it cannot pass them silently.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Install is how to get redis-server, for the failure message.
const Install = "install it with `apt-get install -y redis-server` (Debian/Ubuntu; `make test` runs hack/ensure-redis.sh, which does)"

// Config changes how the server runs. The zero value is a plain server.
type Config struct {
	// Password makes the server require it (requirepass).
	Password string
	// TLS serves TLS only, with this certificate, key and CA (PEM files);
	// clients need not present a certificate.
	TLS *TLSFiles
}

// TLSFiles are the PEM files of a TLS server.
type TLSFiles struct {
	Cert, Key, CA string
}

// Server is a running redis-server.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	cfg  Config
	cmd  *exec.Cmd
	done chan struct{}
}

// Binary returns the path of redis-server, or fails t with how to install
// it.
func Binary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/redis-server"); err == nil {
		return "/usr/bin/redis-server"
	}
	t.Fatalf("redis-server is not installed, and this test needs a real one: %s", Install)
	return ""
}

// Start runs a plain redis-server for the test.
func Start(t testing.TB) *Server { return StartWith(t, Config{}) }

// StartWith runs a redis-server configured by cfg for the test.
func StartWith(t testing.TB, cfg Config) *Server {
	t.Helper()
	s := &Server{t: t, bin: Binary(t), dir: t.TempDir(), cfg: cfg}
	var err error
	for range 5 { // another process may take the free port first
		if s.port, err = freePort(); err != nil {
			t.Fatalf("redistest: %v", err)
		}
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(func() { s.stop() })
	return s
}

// Port returns the port the server listens on.
func (s *Server) Port() int { return s.port }

// Addr returns host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL returns the server's redis:// URL (rediss:// when it serves TLS),
// without the password.
func (s *Server) URL() string {
	if s.cfg.TLS != nil {
		return "rediss://" + s.Addr()
	}
	return "redis://" + s.Addr()
}

// Stop stops the server; the port stays reserved for Restart.
func (s *Server) Stop() {
	s.t.Helper()
	if !s.stop() {
		s.t.Fatal("redistest: Stop: the server is not running")
	}
}

// Restart starts the server again on the same port, empty.
func (s *Server) Restart() {
	s.t.Helper()
	s.stop()
	var err error
	for range 50 { // the port can take a moment to be free again
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("redistest: Restart: %v", err)
}

// Pause freezes the server (SIGSTOP): connections stay open but nothing
// answers, as with a server stuck or a network that drops packets.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume unfreezes a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	if s.cmd == nil {
		s.t.Fatal("redistest: the server is not running")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("redistest: %v: %v", sig, err)
	}
}

func (s *Server) args() []string {
	a := []string{
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--logfile", filepath.Join(s.dir, "redis.log"),
		"--daemonize", "no",
	}
	if s.cfg.TLS != nil {
		a = append(a, "--port", "0", "--tls-port", strconv.Itoa(s.port),
			"--tls-cert-file", s.cfg.TLS.Cert, "--tls-key-file", s.cfg.TLS.Key,
			"--tls-ca-cert-file", s.cfg.TLS.CA, "--tls-auth-clients", "no")
	} else {
		a = append(a, "--port", strconv.Itoa(s.port))
	}
	if s.cfg.Password != "" {
		a = append(a, "--requirepass", s.cfg.Password)
	}
	return a
}

// start runs the server and waits until it accepts connections.
func (s *Server) start() error {
	// Not the test's context: Stop and cleanup end the server with SIGTERM.
	cmd := exec.CommandContext(context.Background(), s.bin, s.args()...)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			return fmt.Errorf("redis-server on port %d exited at start: %s", s.port, s.logTail())
		default:
		}
		if s.answers() {
			s.cmd, s.done = cmd, done
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("redis-server on port %d did not answer within 10s: %s", s.port, s.logTail())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// answers reports whether the port accepts connections and, without TLS,
// answers PING (NOAUTH counts as an answer).
func (s *Server) answers() bool {
	d := net.Dialer{Timeout: 200 * time.Millisecond}
	c, err := d.DialContext(context.Background(), "tcp", s.Addr())
	if err != nil {
		return false
	}
	defer func() { _ = c.Close() }()
	if s.cfg.TLS != nil {
		return true
	}
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && (strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH"))
}

// stop terminates the server and reports whether it was running.
func (s *Server) stop() bool {
	if s.cmd == nil {
		return false
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // a paused server cannot handle SIGTERM
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
	return true
}

func (s *Server) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], "\n")
}

func freePort() (int, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("not a TCP address")
	}
	return addr.Port, nil
}
