// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Command pause is the local cluster's pod sandbox process, in the role of
// Kubernetes' own pause container: it holds the pod's namespaces open and does
// nothing else. As PID 1 of a pod that shares its process namespace it
// inherits orphaned processes, so it reaps them; otherwise they would stay
// zombies for the pod's lifetime. It exits 0 on SIGTERM or SIGINT, which is how
// containerd stops a sandbox.
package main

import (
	"errors"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Without a handler, PID 1 ignores SIGTERM and SIGINT (the kernel
	// delivers no default action to a namespace's init), so catch them.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		os.Exit(0)
	}
}

// reap collects every child that has exited. Signals coalesce, so one
// SIGCHLD may stand for several children: loop until none is left.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}
