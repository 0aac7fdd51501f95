// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestLayoutMatchesDockerfile keeps hack/image and the Dockerfile in step:
// the Dockerfile's final stage and tokenguardLayout must copy the same files
// from the same stages to the same paths, with the same base, user,
// entrypoint and ports, and the final stage may use no instruction the tool
// does not reproduce. Change the Dockerfile's final stage and this fails
// until tokenguardLayout follows.
func TestLayoutMatchesDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	stage, err := parseFinalStage(string(b))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range compareWithStage(tokenguardLayout, stage) {
		t.Error(p)
	}
}

// TestCompareWithStageCatchesDrift proves the comparison above fails for the
// changes it is there to catch.
func TestCompareWithStageCatchesDrift(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := string(b)
	for desc, tc := range map[string]struct {
		old, new string
		want     string
	}{
		"a file added": {
			old: "USER 65532:65532", new: "COPY --from=build /extra.yaml /etc/tokenguard/\nUSER 65532:65532",
			want: `"/etc/tokenguard/extra.yaml" (from build/extra.yaml) is in the Dockerfile but not in tokenguardLayout`,
		},
		"a file moved": {
			old: "COPY --from=build /tokenguard /tokenguard", new: "COPY --from=build /tokenguard /usr/bin/tokenguard",
			want: `"/tokenguard" (from build/tokenguard) is in tokenguardLayout but not in the Dockerfile`,
		},
		"another user": {
			old: "USER 65532:65532", new: "USER 1000:1000",
			want: `USER: Dockerfile "1000:1000", tokenguardLayout "65532:65532"`,
		},
		"a port added": {
			old: "EXPOSE 8090 8080 8081", new: "EXPOSE 8090 8080 8081 9443/tcp",
			want: `EXPOSE: Dockerfile [8080/tcp 8081/tcp 8090/tcp 9443/tcp], tokenguardLayout [8080/tcp 8081/tcp 8090/tcp]`,
		},
		"another entrypoint": {
			old: `ENTRYPOINT ["/tokenguard"]`, new: `ENTRYPOINT ["/tokenguard", "--zap-devel"]`,
			want: `ENTRYPOINT: Dockerfile ["/tokenguard" "--zap-devel"], tokenguardLayout ["/tokenguard"]`,
		},
		"another base": {
			old: "FROM gcr.io/distroless/static-debian12:nonroot", new: "FROM gcr.io/distroless/base-debian12:nonroot",
			want: `FROM: Dockerfile "gcr.io/distroless/base-debian12:nonroot", tokenguardLayout stands in for "gcr.io/distroless/static-debian12:nonroot"`,
		},
		"a file from the build context": {
			old: "USER 65532:65532", new: "COPY config/samples/ /policies/\nUSER 65532:65532",
			want: `the final stage's COPY config/samples/ /policies/ is not reproduced by hack/image`,
		},
		"an instruction the tool does not reproduce": {
			old: "USER 65532:65532", new: "ENV GODEBUG=x509sha1=1\nUSER 65532:65532",
			want: `the final stage's ENV GODEBUG=x509sha1=1 is not reproduced by hack/image`,
		},
	} {
		t.Run(desc, func(t *testing.T) {
			if !strings.Contains(dockerfile, tc.old) {
				t.Fatalf("the Dockerfile no longer has %q; update this case", tc.old)
			}
			stage, err := parseFinalStage(strings.Replace(dockerfile, tc.old, tc.new, 1))
			if err != nil {
				t.Fatal(err)
			}
			problems := compareWithStage(tokenguardLayout, stage)
			if !slices.Contains(problems, tc.want) {
				t.Errorf("problems = %q, want one of them %q", problems, tc.want)
			}
		})
	}
}

func TestTokenguardImage(t *testing.T) {
	dir := t.TempDir()
	binary := buildStaticBinary(t, filepath.Join(dir, "tokenguard"))
	geoip := filepath.Join(dir, "geoip")
	writeFile(t, filepath.Join(geoip, "dbip-country.mmdb"), "not really an mmdb")
	writeFile(t, filepath.Join(geoip, "DBIP-LICENSE"), "CC BY 4.0")
	asn := filepath.Join(dir, "asn")
	writeFile(t, filepath.Join(asn, "asn.mmdb"), "not really an ASN mmdb")
	for _, f := range []string{"DBIP-LICENSE", "ROUTEVIEWS-LICENSE", "NRO_LICENSE", "MODIFICATIONS"} {
		writeFile(t, filepath.Join(asn, f), "ASN "+f)
	}
	out := filepath.Join(dir, "images", "tokenguard.tar")
	args := []string{"tokenguard", "--binary", binary, "--geoip-dir", geoip, "--asn-dir", asn, "--tag", "tokenguard.local/tokenguard:dev", "--out", out}
	var stdout bytes.Buffer
	if err := run(context.Background(), args, &stdout); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stdout.String(), "wrote "+out+": tokenguard.local/tokenguard:dev linux/"+runtime.GOARCH+" sha256:") {
		t.Errorf("stdout = %q", stdout.String())
	}

	img := readImage(t, out, "tokenguard.local/tokenguard:dev")
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	checkConfig(t, cf, imageConfig{
		entrypoint: []string{"/tokenguard"}, user: "65532:65532",
		ports:      []string{"8080/tcp", "8081/tcp", "8090/tcp"},
		workingDir: "/home/nonroot",
	})
	files := layerFiles(t, img)
	binaryData, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]layerFile{
		"/tokenguard": {mode: 0o755, data: string(binaryData)},
		"/usr/share/tokenguard/geoip/dbip-country.mmdb": {mode: 0o644, data: "not really an mmdb"},
		"/usr/share/tokenguard/geoip/DBIP-LICENSE":      {mode: 0o644, data: "CC BY 4.0"},
		"/usr/share/tokenguard/asn/asn.mmdb":            {mode: 0o644, data: "not really an ASN mmdb"},
		"/usr/share/tokenguard/asn/DBIP-LICENSE":        {mode: 0o644, data: "ASN DBIP-LICENSE"},
		"/usr/share/tokenguard/asn/ROUTEVIEWS-LICENSE":  {mode: 0o644, data: "ASN ROUTEVIEWS-LICENSE"},
		"/usr/share/tokenguard/asn/NRO_LICENSE":         {mode: 0o644, data: "ASN NRO_LICENSE"},
		"/usr/share/tokenguard/asn/MODIFICATIONS":       {mode: 0o644, data: "ASN MODIFICATIONS"},
		"/etc/passwd":                 {mode: 0o644, data: files["/etc/passwd"].data},
		"/etc/group":                  {mode: 0o644, data: files["/etc/group"].data},
		"/tmp":                        {mode: fs.ModeDir | fs.ModeSticky | 0o777},
		"/home/nonroot":               {mode: fs.ModeDir | 0o700, uid: 65532, gid: 65532},
		"/etc":                        {mode: fs.ModeDir | 0o755},
		"/home":                       {mode: fs.ModeDir | 0o755},
		"/usr":                        {mode: fs.ModeDir | 0o755},
		"/usr/share":                  {mode: fs.ModeDir | 0o755},
		"/usr/share/tokenguard":       {mode: fs.ModeDir | 0o755},
		"/usr/share/tokenguard/geoip": {mode: fs.ModeDir | 0o755},
		"/usr/share/tokenguard/asn":   {mode: fs.ModeDir | 0o755},
	}
	if !reflect.DeepEqual(files, want) {
		t.Errorf("layer files differ:\n got %v\nwant %v", summary(files), summary(want))
	}
	for _, line := range []string{"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"} {
		if !strings.Contains(files["/etc/passwd"].data, line) {
			t.Errorf("/etc/passwd lacks %q:\n%s", line, files["/etc/passwd"].data)
		}
	}
	if !strings.Contains(files["/etc/group"].data, "nonroot:x:65532:\n") {
		t.Errorf("/etc/group lacks nonroot:\n%s", files["/etc/group"].data)
	}

	// The same inputs give the same bytes, so a rebuild imports as the
	// same image.
	again := filepath.Join(dir, "again.tar")
	args[len(args)-1] = again
	if err := run(context.Background(), args, io.Discard); err != nil {
		t.Fatal(err)
	}
	if a, b := readAll(t, out), readAll(t, again); !bytes.Equal(a, b) {
		t.Error("two builds from the same inputs differ")
	}
}

func TestPauseImage(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "pause.tar")
	if err := run(context.Background(), []string{"pause", "--tag", "tokenguard.local/pause:1", "--out", out}, io.Discard); err != nil {
		t.Fatal(err)
	}
	img := readImage(t, out, "tokenguard.local/pause:1")
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	checkConfig(t, cf, imageConfig{entrypoint: []string{"/pause"}, user: "65535:65535"})
	files := layerFiles(t, img)
	if len(files) != 1 || files["/pause"].mode != 0o755 {
		t.Fatalf("layer files = %v, want only /pause with mode 0755", summary(files))
	}
	bin := filepath.Join(dir, "pause")
	writeFile(t, bin, files["/pause"].data)
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if arch, err := staticLinuxArch(bin); err != nil || arch != runtime.GOARCH {
		t.Errorf("staticLinuxArch(/pause) = %q, %v; want a static %s binary", arch, err, runtime.GOARCH)
	}

	// The program in the image stops with status 0 on either signal
	// containerd may send, and only then.
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				t.Fatalf("pause exited before a signal: %v", err)
			case <-time.After(300 * time.Millisecond):
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("after %v: %v, want exit status 0", sig, err)
				}
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("pause still running 10s after %v", sig)
			}
		})
	}
}

// TestPauseReapsOrphans runs the pause program as PID 1 of a new PID
// namespace, as in a pod that shares its process namespace, orphans a
// process into that namespace, and expects pause to reap it once it exits
// instead of leaving a zombie. It needs root (CAP_SYS_ADMIN) and nsenter.
func TestPauseReapsOrphans(t *testing.T) {
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		t.Skip("no nsenter")
	}
	dir := t.TempDir()
	bin := buildStaticBinary(t, filepath.Join(dir, "pause"))
	pause := exec.Command(bin)
	pause.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	if err := pause.Start(); err != nil {
		t.Skipf("cannot start a process in a new PID namespace here: %v", err)
	}
	defer func() { _ = pause.Process.Kill(); _ = pause.Wait() }()

	// The outer shell exits at once; its background sleep is orphaned and
	// reparented to the namespace's init, pause, and exits a second later.
	// No output is captured: the sleep would hold the pipe open and Run
	// would wait for it.
	orphan := exec.Command(nsenter, "-t", fmt.Sprint(pause.Process.Pid), "-p", "--", "sh", "-c", "sleep 1 & exit 0")
	if err := orphan.Run(); err != nil {
		t.Skipf("cannot enter the PID namespace here: %v", err)
	}
	adopted := false
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		children := childStates(t, pause.Process.Pid)
		if len(children) > 0 {
			adopted = true
		} else if adopted {
			return // the orphan came and was reaped
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !adopted {
		t.Fatal("the orphan never became a child of pause; the test proves nothing")
	}
	t.Fatalf("pause still has children 10s later (states %q): it does not reap", childStates(t, pause.Process.Pid))
}

// childStates returns the states (R, S, Z, ...) of the processes whose
// parent is ppid, read from /proc.
func childStates(t *testing.T, ppid int) []string {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the process is gone
		}
		// pid (comm) state ppid ...; comm may hold spaces, so cut at the last ')'.
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(fields) >= 2 && fields[1] == fmt.Sprint(ppid) {
			states = append(states, fields[0])
		}
	}
	return states
}

func TestRefusesWhatCannotRun(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "script")
	writeFile(t, script, "#!/bin/sh\n")
	cases := map[string]string{script: "is not a linux executable"}
	// A dynamically linked executable, if this machine has one to hand.
	if sh, err := exec.LookPath("sh"); err == nil {
		if target, err := filepath.EvalSymlinks(sh); err == nil {
			if _, err := staticLinuxArch(target); err != nil && strings.Contains(err.Error(), "dynamically linked") {
				cases[target] = "dynamically linked"
			}
		}
	}
	for binary, want := range cases {
		err := run(context.Background(), []string{"tokenguard", "--binary", binary, "--geoip-dir", dir, "--asn-dir", dir,
			"--tag", "tokenguard.local/tokenguard:dev", "--out", filepath.Join(dir, "out.tar")}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", binary, err, want)
		}
	}
	for desc, args := range map[string][]string{
		"no binary":     {"tokenguard", "--geoip-dir", dir, "--asn-dir", dir, "--tag", "a.local/b:c", "--out", "x.tar"},
		"no ASN dir":    {"tokenguard", "--binary", "tokenguard", "--geoip-dir", dir, "--tag", "a.local/b:c", "--out", "x.tar"},
		"no tag":        {"pause", "--out", "x.tar"},
		"tag untagged":  {"pause", "--tag", "a.local/b", "--out", filepath.Join(dir, "x.tar")},
		"unknown image": {"nginx"},
	} {
		if err := run(context.Background(), args, io.Discard); err == nil {
			t.Errorf("%s: no error", desc)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out.tar")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed build left %s behind: %v", "out.tar", err)
	}
}

// dockerStage is what a Dockerfile stage says about the image it makes.
type dockerStage struct {
	from       string
	files      map[string]string // image path -> "stage/file name"
	user       string
	entrypoint []string
	ports      []string
	others     []string // instructions hack/image does not reproduce
}

// parseFinalStage reads the last stage of a Dockerfile: enough of the
// syntax for ours (continuation lines, comments, COPY --from, exec-form
// ENTRYPOINT). Anything else in the stage, a COPY from the build context or
// with other flags included, lands in others, which the comparison reports.
func parseFinalStage(dockerfile string) (dockerStage, error) {
	lines := logicalLines(dockerfile)
	start := -1
	for i, line := range lines {
		if instr, _, _ := strings.Cut(line, " "); strings.EqualFold(instr, "FROM") {
			start = i
		}
	}
	if start < 0 {
		return dockerStage{}, errors.New("no FROM")
	}
	stage := dockerStage{from: strings.Fields(lines[start])[1], files: map[string]string{}}
	for _, line := range lines[start+1:] {
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "COPY":
			if !stage.addCopy(rest) {
				stage.others = append(stage.others, line)
			}
		case "USER":
			stage.user = rest
		case "EXPOSE":
			for _, p := range strings.Fields(rest) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				stage.ports = append(stage.ports, p)
			}
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &stage.entrypoint); err != nil {
				return stage, fmt.Errorf("%s: only the exec (JSON) form is supported: %w", line, err)
			}
		default:
			stage.others = append(stage.others, line)
		}
	}
	return stage, nil
}

// addCopy records the files a `COPY --from=STAGE SRC... DEST` puts in the
// image, and reports false for any other COPY.
func (s *dockerStage) addCopy(args string) bool {
	fields := strings.Fields(args)
	from := ""
	for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
		flag, value, _ := strings.Cut(fields[0], "=")
		if flag != "--from" {
			return false
		}
		from, fields = value, fields[1:]
	}
	if from == "" || len(fields) < 2 {
		return false
	}
	srcs, dest := fields[:len(fields)-1], fields[len(fields)-1]
	for _, src := range srcs {
		p := dest
		if strings.HasSuffix(dest, "/") || len(srcs) > 1 {
			p = path.Join(dest, path.Base(src))
		}
		s.files[p] = from + "/" + path.Base(src)
	}
	return true
}

// logicalLines joins continuation lines and drops comments and blank lines.
func logicalLines(dockerfile string) []string {
	var lines []string
	var cur strings.Builder
	for _, raw := range strings.Split(dockerfile, "\n") {
		l := strings.TrimSpace(raw)
		if strings.HasPrefix(l, "#") || (l == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(l, `\`) {
			cur.WriteString(strings.TrimSuffix(l, `\`) + " ")
			continue
		}
		cur.WriteString(l)
		lines = append(lines, strings.Join(strings.Fields(cur.String()), " "))
		cur.Reset()
	}
	return lines
}

// compareWithStage lists every difference between l and the stage.
func compareWithStage(l imageLayout, s dockerStage) []string {
	var problems []string
	if s.from != l.Base {
		problems = append(problems, fmt.Sprintf("FROM: Dockerfile %q, tokenguardLayout stands in for %q", s.from, l.Base))
	}
	ours := map[string]string{}
	for _, f := range l.Files {
		ours[f.Path] = string(f.From) + "/" + f.Name
	}
	for _, p := range sortedKeys(s.files) {
		if ours[p] != s.files[p] {
			problems = append(problems, fmt.Sprintf("%q (from %s) is in the Dockerfile but not in tokenguardLayout", p, s.files[p]))
		}
	}
	for _, p := range sortedKeys(ours) {
		if s.files[p] != ours[p] {
			problems = append(problems, fmt.Sprintf("%q (from %s) is in tokenguardLayout but not in the Dockerfile", p, ours[p]))
		}
	}
	if s.user != l.User {
		problems = append(problems, fmt.Sprintf("USER: Dockerfile %q, tokenguardLayout %q", s.user, l.User))
	}
	if !slices.Equal(s.entrypoint, l.Entrypoint) {
		problems = append(problems, fmt.Sprintf("ENTRYPOINT: Dockerfile %q, tokenguardLayout %q", s.entrypoint, l.Entrypoint))
	}
	theirs, mine := slices.Sorted(slices.Values(s.ports)), slices.Sorted(slices.Values(l.ExposedPorts))
	if !slices.Equal(theirs, mine) {
		problems = append(problems, fmt.Sprintf("EXPOSE: Dockerfile %v, tokenguardLayout %v", theirs, mine))
	}
	for _, o := range s.others {
		problems = append(problems, fmt.Sprintf("the final stage's %s is not reproduced by hack/image", o))
	}
	return problems
}

// buildStaticBinary builds a small static linux executable (the pause
// program) to stand in for the tokenguard binary.
func buildStaticBinary(t *testing.T, out string) string {
	t.Helper()
	if err := buildPause(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	return out
}

type imageConfig struct {
	entrypoint []string
	user       string
	ports      []string
	workingDir string
}

func checkConfig(t *testing.T, cf *v1.ConfigFile, want imageConfig) {
	t.Helper()
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform = %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
	}
	if !cf.Created.Equal(time.Unix(0, 0)) {
		t.Errorf("created = %v, want the Unix epoch", cf.Created)
	}
	got := imageConfig{entrypoint: cf.Config.Entrypoint, user: cf.Config.User, workingDir: cf.Config.WorkingDir}
	for p := range cf.Config.ExposedPorts {
		got.ports = append(got.ports, p)
	}
	slices.Sort(got.ports)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config = %+v, want %+v", got, want)
	}
}

func readImage(t *testing.T, archive, tag string) v1.Image {
	t.Helper()
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(archive, &ref)
	if err != nil {
		t.Fatalf("reading %s as %s: %v", archive, tag, err)
	}
	return img
}

type layerFile struct {
	mode     fs.FileMode
	uid, gid int
	data     string
}

// layerFiles reads every entry of every layer of img, keyed by absolute
// path.
func layerFiles(t *testing.T, img v1.Image) map[string]layerFile {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]layerFile{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if !h.ModTime.Equal(time.Unix(0, 0)) {
				t.Errorf("%s: mtime %v, want the Unix epoch", h.Name, h.ModTime)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files["/"+strings.TrimSuffix(h.Name, "/")] = layerFile{mode: h.FileInfo().Mode(), uid: h.Uid, gid: h.Gid, data: string(data)}
		}
		_ = rc.Close()
	}
	return files
}

// summary prints files without their contents.
func summary(files map[string]layerFile) string {
	var b strings.Builder
	for _, p := range sortedKeys(files) {
		f := files[p]
		fmt.Fprintf(&b, "\n  %s %v %d:%d %d bytes", p, f.mode, f.uid, f.gid, len(f.data))
	}
	return b.String()
}

func writeFile(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
