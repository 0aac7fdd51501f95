// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Command image builds TokenGuard's container image and a pause image
// without Docker, as docker-archive tarballs that `ctr -n k8s.io images
// import` accepts, for the local cluster. The Dockerfile stays the way to
// build the published image; image_test.go fails when the two put different
// files, user, entrypoint or ports in the image.
//
//	go run ./hack/image tokenguard --binary bin/tokenguard --geoip-dir DIR --asn-dir DIR --tag tokenguard.local/tokenguard:dev --out bin/images/tokenguard.tar
//	go run ./hack/image pause --tag tokenguard.local/pause:1 --out FILE.tar
//
// The same inputs give the same tarball byte for byte (fixed timestamps, sorted
// entries), so a rebuild imports as the same image.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
)

const usage = `usage:
  image tokenguard --binary FILE --geoip-dir DIR --asn-dir DIR --tag REF --out FILE.tar
  image pause --tag REF --out FILE.tar`

// pausePackage is built by `image pause`; an import path, so the tool works
// from anywhere inside the module.
const pausePackage = "github.com/tokenguard/tokenguard/hack/image/pause"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "tokenguard":
		return runTokenguard(args[1:], stdout)
	case "pause":
		return runPause(ctx, args[1:], stdout)
	default:
		return fmt.Errorf("unknown image %q\n%s", args[0], usage)
	}
}

func runTokenguard(args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("tokenguard", flag.ContinueOnError)
	binary := flags.String("binary", "", "the static linux tokenguard binary (make build)")
	geoipDir := flags.String("geoip-dir", "", "directory holding dbip-country.mmdb and DBIP-LICENSE (hack/fetch-geoip.sh)")
	asnDir := flags.String("asn-dir", "", "directory holding asn.mmdb and its licence files (hack/fetch-geoip.sh asn)")
	tag := flags.String("tag", "", "image reference to record, e.g. tokenguard.local/tokenguard:dev")
	out := flags.String("out", "", "docker-archive tarball to write")
	if err := parseFlags(flags, args, map[string]*string{"binary": binary, "geoip-dir": geoipDir, "asn-dir": asnDir, "tag": tag, "out": out}); err != nil {
		return err
	}
	return buildAndWrite(tokenguardLayout, *binary, map[source]string{fromBuild: *binary, fromGeoIP: *geoipDir, fromASN: *asnDir}, *tag, *out, stdout)
}

func runPause(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("pause", flag.ContinueOnError)
	tag := flags.String("tag", "", "image reference to record, e.g. tokenguard.local/pause:1")
	out := flags.String("out", "", "docker-archive tarball to write")
	if err := parseFlags(flags, args, map[string]*string{"tag": tag, "out": out}); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "tokenguard-pause-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	bin := filepath.Join(tmp, "pause")
	if err := buildPause(ctx, bin); err != nil {
		return err
	}
	return buildAndWrite(pauseLayout, bin, map[source]string{fromPause: bin}, *tag, *out, stdout)
}

// buildPause builds the pause program static for linux on the host's
// architecture. -buildvcs=false and -trimpath keep the commit and the
// checkout's path out of the binary, so the image only changes when the
// program does.
func buildPause(ctx context.Context, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-buildvcs=false", "-trimpath", "-ldflags=-s -w", "-o", out, pausePackage) //nolint:gosec // fixed program, our own temp path
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building %s: %w", pausePackage, err)
	}
	return nil
}

// parseFlags parses args and requires every flag in required to be set.
func parseFlags(flags *flag.FlagSet, args []string, required map[string]*string) error {
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q\n%s", flags.Name(), flags.Args(), usage)
	}
	for _, f := range sortedKeys(required) {
		if *required[f] == "" {
			return fmt.Errorf("%s: --%s is required\n%s", flags.Name(), f, usage)
		}
	}
	return nil
}
