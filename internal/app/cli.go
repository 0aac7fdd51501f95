// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/tokenguard/tokenguard/internal/action"
	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/geoip"
	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/standalone"
	"github.com/tokenguard/tokenguard/internal/state"
)

// RunCommand runs a subcommand (validate, decide) and returns the process
// exit code. It reports whether args named a subcommand at all.
func RunCommand(args []string, stdout, stderr io.Writer) (int, bool) {
	if len(args) == 0 {
		return 0, false
	}
	switch args[0] {
	case "validate":
		return validate(args[1:], stdout, stderr), true
	case "decide":
		return decide(args[1:], stdout, stderr), true
	}
	return 0, false
}

// validate compiles policy files the way the service does, without serving
// them: for CI checks of a GitOps repository before anything is applied.
func validate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tokenguard validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tokenguard validate FILE_OR_DIR...\n\nCompiles every TokenPolicy and IPList in the files as the service would (IP lists' URLs are not fetched); exits 1 on the first problem.")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	store := policy.NewStore()
	// Secrets are not needed to judge a spec: keys are checked at run time.
	// Nor are IP lists' URLs: their entries and files are checked, the URLs
	// are not fetched.
	l := &standalone.Loader{Paths: fs.Args(), Store: store, Log: logr.Discard(), AbuseIPDBDisabled: true, NoFetch: true}
	if err := l.Load(context.Background()); err != nil {
		fmt.Fprintln(stderr, "invalid:", err)
		return 1
	}
	for _, p := range store.Load().Policies {
		fmt.Fprintf(stdout, "ok  %s (%s)\n", p.Key, p.Mode)
	}
	return 0
}

// decide answers one call against policy files through the handler the
// action endpoint uses, and prints the answer the platform would get, with
// the decision's explanation and the changes the platform would skip: for
// trying a policy before rolling it out. The call is read whole from
// --request, as the platform sends it, or built from the call flags.
func decide(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tokenguard decide", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var policies, dbs, asnDBs stringList
	fs.Var(&policies, "policy-file", "TokenPolicy file or directory (repeatable)")
	fs.Var(&dbs, "geoip-database", "GeoIP database (repeatable)")
	fs.Var(&asnDBs, "asn-database", "ASN database (repeatable)")
	request := fs.String("request", "", "FILE with a whole platform call (JSON, as the platform sends it); - reads stdin")
	ip := fs.String("ip", "", "client IP, sent as the x-client-source-ip header (with --request: replaces that header)")
	at := fs.String("at", "", "time of the call, RFC 3339 (default now)")
	tenant := fs.String("tenant", "", "tenant domain")
	client := fs.String("client-id", "", "OAuth2 client id")
	grant := fs.String("grant-type", "authorization_code", "grant type")
	expires := fs.Int64("expires-in", 3600, "the token's current lifetime")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tokenguard decide --policy-file=PATH [--geoip-database=FILE] [--asn-database=FILE] --ip=ADDR [--at=TIME] [--tenant=T] [--client-id=C] [--grant-type=G] [--expires-in=S]\n"+
			"       tokenguard decide --policy-file=PATH [--geoip-database=FILE] [--asn-database=FILE] --request=FILE|- [--ip=ADDR] [--at=TIME]\n\n"+
			"Answers the call through the service's own handler and prints the answer the platform would get,\n"+
			"one line per matching policy, and one \"skipped: CHANGE: REASON\" line per change the platform would not apply.\n"+
			"--request takes the call as the platform sends it; --tenant, --client-id, --grant-type and --expires-in\n"+
			"cannot be combined with it. AbuseIPDB is not called: AbuseIPDB rules are skipped.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(policies) == 0 || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if *request != "" {
		var conflict []string
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "tenant", "client-id", "grant-type", "expires-in":
				conflict = append(conflict, "--"+f.Name)
			}
		})
		if len(conflict) > 0 {
			fmt.Fprintf(stderr, "%s cannot be used with --request: the call comes from the file\n", strings.Join(conflict, ", "))
			return 2
		}
	}
	now := time.Now()
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			fmt.Fprintln(stderr, "--at:", err)
			return 2
		}
		now = t
	}
	var req *action.Request
	if *request != "" {
		var err error
		if req, err = readRequest(*request); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	} else {
		req = flagRequest(*tenant, *client, *grant, *expires)
	}
	if *ip != "" && req.Event != nil {
		setHeader(&req.Event.Request.AdditionalHeaders, "x-client-source-ip", *ip)
	}
	geo, err := geoip.Open(dbs)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	asn, err := geoip.OpenASN(asnDBs)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	store := policy.NewStore()
	l := &standalone.Loader{Paths: policies, Store: store, Log: logr.Discard(), AbuseIPDBDisabled: true}
	if err := l.Load(context.Background()); err != nil {
		fmt.Fprintln(stderr, "invalid:", err)
		return 1
	}
	// Velocity limits and user history count this one call, from nothing.
	h := newHandler(geo, asn, nil, 0, state.NewMemory(func() time.Time { return now }), store, nil, logr.Discard(), func() time.Time { return now })
	a := h.Handle(context.Background(), req)
	b, err := json.Marshal(a.Body)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, string(b))
	d := a.Decision
	if d == nil {
		fmt.Fprintf(stderr, "the call was not decided (HTTP %d): %s\n", a.Status, a.Body.ErrorDescription)
		return 1
	}
	fmt.Fprintf(stdout, "country=%q\n", d.Country)
	if len(asnDBs) > 0 {
		// Looked up here too: the decision has the ASN only when a policy needed it.
		if n, org := asn.Organization(d.IP); n != 0 {
			fmt.Fprintf(stdout, "asn=%d %q\n", n, org)
		} else {
			fmt.Fprintln(stdout, "asn=unknown")
		}
	}
	for _, r := range d.Policies {
		line := fmt.Sprintf("%s: %s", r.Key, r.Action)
		if r.Mode == policy.Audit {
			line += " (audit)"
		}
		if r.Cause != policy.CauseNone {
			line += ", " + r.Cause.String()
		}
		if r.Rule != "" {
			line += " (rule " + r.Rule + ")"
		}
		if r.ExpiresIn > 0 {
			line += fmt.Sprintf(", expires in %d s", r.ExpiresIn)
		}
		if r.Trusted {
			line += ", trusted network"
		}
		fmt.Fprintln(stdout, line)
	}
	if len(d.Policies) == 0 {
		fmt.Fprintln(stdout, "no policy matches this call")
	}
	for _, sk := range a.Skipped {
		fmt.Fprintf(stdout, "skipped: %s: %s\n", sk.Change(), sk.Reason)
	}
	return 0
}

// flagRequest builds the call the call flags describe: a JWT with the given
// lifetime and no audience, and the operations the platform allows for it.
func flagRequest(tenant, client, grant string, expires int64) *action.Request {
	return &action.Request{
		ActionType: action.ActionType,
		Event: &action.Event{
			Request: action.TokenRequest{ClientID: client, GrantType: grant},
			Tenant:  action.Tenant{Name: tenant},
			AccessToken: action.AccessToken{TokenType: "JWT", Claims: []action.Claim{
				{Name: "expires_in", Value: json.RawMessage(strconv.FormatInt(expires, 10))},
				{Name: "aud", Value: json.RawMessage(`[]`)},
			}},
		},
		AllowedOperations: []action.AllowedOperation{
			{Op: action.OpAdd, Paths: []string{"/accessToken/claims/", "/accessToken/scopes/", "/accessToken/claims/aud/"}},
			{Op: action.OpRemove, Paths: []string{"/accessToken/scopes/", "/accessToken/claims/aud/"}},
			{Op: action.OpReplace, Paths: []string{"/accessToken/scopes/", "/accessToken/claims/aud/", "/accessToken/claims/expires_in"}},
		},
	}
}

// readRequest decodes a platform call from a file, or stdin for "-", the way
// the action endpoint decodes a body (unknown fields are ignored).
func readRequest(name string) (*action.Request, error) {
	var b []byte
	var err error
	if name == "-" {
		name = "stdin"
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(name) //nolint:gosec // the operator names the file
	}
	if err != nil {
		return nil, fmt.Errorf("--request: %w", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("--request %s: empty, expected a platform call (JSON)", name)
	}
	var req action.Request
	if err := action.DecodeRequest(b, &req); err != nil {
		return nil, fmt.Errorf("--request %s: not a platform call: %s", name, jsonProblem(b, err))
	}
	return &req, nil
}

// jsonProblem describes a decoding error with the line and column it is at.
func jsonProblem(b []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var off int64
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
		if te.Field != "" {
			err = fmt.Errorf("%s must be %s, not a JSON %s", te.Field, jsonKind(te.Type), te.Value)
		}
	default:
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	// The offset is just past the byte that failed: report that byte.
	i := min(max(off-1, 0), int64(len(b)))
	line := 1 + bytes.Count(b[:i], []byte("\n"))
	col := i - int64(bytes.LastIndexByte(b[:i], '\n'))
	return fmt.Sprintf("%s (line %d, column %d)", strings.TrimPrefix(err.Error(), "json: "), line, col)
}

// jsonKind names what JSON decodes into t.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}

// setHeader replaces the forwarded header name (matched by ASCII case, as
// the engine matches it) with a single value, or adds it.
func setHeader(hs *action.Headers, name, value string) {
	out := make(action.Headers, 0, len(*hs)+1)
	for _, h := range *hs {
		if !engine.EqualFoldASCII(h.Name, name) {
			out = append(out, h)
		}
	}
	*hs = append(out, action.Header{Name: name, Value: []string{value}})
}
