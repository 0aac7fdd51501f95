// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package main

// source names where a file in an image comes from. The TokenGuard image's
// sources are named after the Dockerfile stages the final stage copies from,
// so that image_test.go can compare the two.
type source string

const (
	fromBuild source = "build" // --binary: the stage that builds /tokenguard
	fromGeoIP source = "geoip" // a file in --geoip-dir: the stage that fetches the DB-IP Lite database
	fromASN   source = "asn"   // a file in --asn-dir: the stage that converts the ip-location-db ASN database
	fromPause source = "pause" // the pause program, built by this tool
)

// file is one file the image adds.
type file struct {
	From source
	Name string // the file's name in its source
	Path string // where it lands in the image
	Mode int64
}

// imageLayout is what an image holds besides the files of the base it
// stands in for.
type imageLayout struct {
	Name string // the tool's subcommand, recorded in the image's history
	// Base is the Dockerfile's final FROM. The test checks it, because
	// baseFiles and baseConfig stand in for that base's contents.
	Base         string
	Files        []file
	User         string
	Entrypoint   []string
	ExposedPorts []string
	// WithBase adds baseFiles and baseConfig.
	WithBase bool
}

// tokenguardLayout is what the Dockerfile's final stage puts in the image.
// image_test.go parses the Dockerfile and fails when the two differ.
var tokenguardLayout = imageLayout{
	Name: "tokenguard",
	Base: "gcr.io/distroless/static-debian12:nonroot",
	Files: []file{
		{From: fromBuild, Name: "tokenguard", Path: "/tokenguard", Mode: 0o755},
		{From: fromGeoIP, Name: "dbip-country.mmdb", Path: "/usr/share/tokenguard/geoip/dbip-country.mmdb", Mode: 0o644},
		{From: fromGeoIP, Name: "DBIP-LICENSE", Path: "/usr/share/tokenguard/geoip/DBIP-LICENSE", Mode: 0o644},
		{From: fromASN, Name: "asn.mmdb", Path: "/usr/share/tokenguard/asn/asn.mmdb", Mode: 0o644},
		{From: fromASN, Name: "DBIP-LICENSE", Path: "/usr/share/tokenguard/asn/DBIP-LICENSE", Mode: 0o644},
		{From: fromASN, Name: "ROUTEVIEWS-LICENSE", Path: "/usr/share/tokenguard/asn/ROUTEVIEWS-LICENSE", Mode: 0o644},
		{From: fromASN, Name: "NRO_LICENSE", Path: "/usr/share/tokenguard/asn/NRO_LICENSE", Mode: 0o644},
		{From: fromASN, Name: "MODIFICATIONS", Path: "/usr/share/tokenguard/asn/MODIFICATIONS", Mode: 0o644},
	},
	User:         "65532:65532",
	Entrypoint:   []string{"/tokenguard"},
	ExposedPorts: []string{"8090/tcp", "8080/tcp", "8081/tcp"},
	WithBase:     true,
}

// pauseLayout is the pod sandbox image. Like Kubernetes' own pause image it
// is the one static binary on an empty base, run as 65535 so that the
// sandbox holds no root process.
var pauseLayout = imageLayout{
	Name:       "pause",
	Files:      []file{{From: fromPause, Name: "pause", Path: "/pause", Mode: 0o755}},
	User:       "65535:65535",
	Entrypoint: []string{"/pause"},
}

// baseEntry is a file or directory the base image would provide.
type baseEntry struct {
	Path     string
	Mode     int64
	UID, GID int
	Dir      bool
	Data     string
}

// baseFiles stand in for the parts of distroless/static's nonroot variant
// that a process running as 65532 notices: its user and group in
// /etc/passwd and /etc/group (for anything that looks up the current user),
// its home directory, and a world-writable /tmp. distroless also ships CA
// certificates and tzdata; they are left out on purpose: the binary embeds
// tzdata (time/tzdata) and the local cluster's tests talk plain HTTP on
// loopback and pod addresses, so nothing here needs a CA bundle. The
// published image gets all of them from the real base.
var baseFiles = []baseEntry{
	{Path: "/etc/passwd", Mode: 0o644, Data: "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"},
	{Path: "/etc/group", Mode: 0o644, Data: "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"},
	{Path: "/home/nonroot", Mode: 0o700, UID: 65532, GID: 65532, Dir: true},
	{Path: "/tmp", Mode: 0o1777, Dir: true},
}

// baseEnv and baseWorkingDir are the distroless nonroot image's settings
// that the Dockerfile inherits without naming them.
var (
	baseEnv        = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	baseWorkingDir = "/home/nonroot"
)
