// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// epoch is every timestamp in the images (config, history, layer entries):
// fixed, so the same inputs give the same image ID.
var epoch = time.Unix(0, 0).UTC()

// buildAndWrite builds the image l describes, with the files named by
// sources (a file for a single-file source, a directory otherwise), and
// writes it to out as a docker-archive tarball tagged tag. The platform is
// read from binary, the image's executable.
func buildAndWrite(l imageLayout, binary string, sources map[source]string, tag, out string, stdout io.Writer) error {
	ref, err := name.NewTag(tag, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("--tag: %w", err)
	}
	arch, err := staticLinuxArch(binary)
	if err != nil {
		return err
	}
	img, err := buildImage(l, arch, func(f file) string {
		if f.From == fromGeoIP || f.From == fromASN {
			return filepath.Join(sources[f.From], f.Name)
		}
		return sources[f.From]
	})
	if err != nil {
		return err
	}
	if err := writeArchive(out, ref, img); err != nil {
		return err
	}
	id, err := img.ConfigName()
	if err != nil {
		return err
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "wrote %s: %s linux/%s %s (%.1f MiB)\n", out, ref, arch, id, float64(st.Size())/(1<<20))
	return err
}

// buildImage assembles one layer holding l's files (and the base's, when
// l.WithBase) on an empty image, with l's config. hostPath says where each
// file is read from.
func buildImage(l imageLayout, arch string, hostPath func(file) string) (v1.Image, error) {
	entries, err := layerEntries(l, hostPath)
	if err != nil {
		return nil, err
	}
	layerTar, err := writeLayerTar(entries)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("building the layer: %w", err)
	}

	cfg := v1.Config{
		Entrypoint:   l.Entrypoint,
		User:         l.User,
		ExposedPorts: map[string]struct{}{},
	}
	for _, p := range l.ExposedPorts {
		cfg.ExposedPorts[p] = struct{}{}
	}
	if l.WithBase {
		cfg.Env = baseEnv
		cfg.WorkingDir = baseWorkingDir
	}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: arch,
		OS:           "linux",
		Created:      v1.Time{Time: epoch},
		Config:       cfg,
		RootFS:       v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "hack/image " + l.Name},
	})
}

// layerEntries lists everything the layer holds, parents before children:
// the base's files, l's files read from the host, and every parent
// directory (root-owned, 0755, as in distroless) not listed itself.
func layerEntries(l imageLayout, hostPath func(file) string) ([]baseEntry, error) {
	byPath := map[string]baseEntry{}
	if l.WithBase {
		for _, e := range baseFiles {
			byPath[e.Path] = e
		}
	}
	for _, f := range l.Files {
		b, err := os.ReadFile(hostPath(f)) //nolint:gosec // paths are the tool's own flags
		if err != nil {
			return nil, fmt.Errorf("%s for %s: %w", f.Name, f.Path, err)
		}
		byPath[f.Path] = baseEntry{Path: f.Path, Mode: f.Mode, Data: string(b)}
	}
	for p := range byPath {
		for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
			if _, ok := byPath[dir]; !ok {
				byPath[dir] = baseEntry{Path: dir, Mode: 0o755, Dir: true}
			}
		}
	}
	entries := make([]baseEntry, 0, len(byPath))
	for _, p := range sortedKeys(byPath) {
		entries = append(entries, byPath[p])
	}
	return entries, nil
}

// writeLayerTar writes entries as an uncompressed layer tarball. Paths are
// sorted, so a parent precedes its children, and every header carries the
// fixed epoch and numeric owners only, so the bytes depend on the inputs
// alone.
func writeLayerTar(entries []baseEntry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name:    strings.TrimPrefix(e.Path, "/"),
			Mode:    e.Mode,
			Uid:     e.UID,
			Gid:     e.GID,
			ModTime: epoch,
		}
		if e.Dir {
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := io.WriteString(tw, e.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeArchive writes img as a docker-archive tarball at out through a
// temporary file, so a failed or interrupted build never leaves a
// half-written archive for the cluster to import.
func writeArchive(out string, ref name.Tag, img v1.Image) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil { //nolint:gosec // build output, readable like bin/
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if err := tarball.Write(ref, img, tmp); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := tmp.Chmod(0o644); err != nil { //nolint:gosec // an image archive, readable like the rest of bin/
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

// elfArch maps ELF machines to image architectures.
var elfArch = map[elf.Machine]string{
	elf.EM_X86_64:  "amd64",
	elf.EM_AARCH64: "arm64",
	elf.EM_386:     "386",
	elf.EM_ARM:     "arm",
	elf.EM_PPC64:   "ppc64le",
	elf.EM_S390:    "s390x",
	elf.EM_RISCV:   "riscv64",
}

// staticLinuxArch returns the architecture of a static ELF executable. The
// image has no libc or loader, so a dynamically linked binary (built with
// cgo) would fail only when the pod starts; refuse it here instead.
func staticLinuxArch(p string) (string, error) {
	f, err := elf.Open(p)
	if err != nil {
		return "", fmt.Errorf("%s is not a linux executable (build it with GOOS=linux): %w", p, err)
	}
	defer func() { _ = f.Close() }()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return "", fmt.Errorf("%s is dynamically linked and the image has no libc: build it with CGO_ENABLED=0", p)
		}
	}
	arch, ok := elfArch[f.Machine]
	if !ok {
		return "", fmt.Errorf("%s: unsupported machine %s", p, f.Machine)
	}
	return arch, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
