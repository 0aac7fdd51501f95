// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package app

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/go-logr/logr"

	"github.com/tokenguard/tokenguard/internal/action"
	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/geoip"
	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/standalone"
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
		fmt.Fprintln(stderr, "usage: tokenguard validate FILE_OR_DIR...\n\nCompiles every TokenPolicy in the files as the service would; exits 1 on the first problem.")
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
	l := &standalone.Loader{Paths: fs.Args(), Store: store, Log: logr.Discard(), AbuseIPDBDisabled: true}
	if err := l.Load(context.Background()); err != nil {
		fmt.Fprintln(stderr, "invalid:", err)
		return 1
	}
	for _, p := range store.Load().Policies {
		fmt.Fprintf(stdout, "ok  %s (%s)\n", p.Key, p.Mode)
	}
	return 0
}

// decide answers one call against policy files and prints the answer the
// platform would get, with the decision's explanation: for trying a policy
// before rolling it out.
func decide(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tokenguard decide", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var policies, dbs stringList
	fs.Var(&policies, "policy-file", "TokenPolicy file or directory (repeatable)")
	fs.Var(&dbs, "geoip-database", "GeoIP database (repeatable)")
	ip := fs.String("ip", "", "client IP, sent as the x-client-source-ip header")
	at := fs.String("at", "", "time of the call, RFC 3339 (default now)")
	tenant := fs.String("tenant", "", "tenant domain")
	client := fs.String("client-id", "", "OAuth2 client id")
	grant := fs.String("grant-type", "authorization_code", "grant type")
	expires := fs.Int64("expires-in", 3600, "the token's current lifetime")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tokenguard decide --policy-file=PATH [--geoip-database=FILE] --ip=ADDR [--at=TIME] [--tenant=T] [--client-id=C] [--grant-type=G]\n\n"+
			"Prints the answer the platform would get, and why. AbuseIPDB is not called: AbuseIPDB rules are skipped.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(policies) == 0 {
		fs.Usage()
		return 2
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
	geo, err := geoip.Open(dbs)
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
	req := &action.Request{
		ActionType: action.ActionType,
		Event: &action.Event{
			Request: action.TokenRequest{ClientID: *client, GrantType: *grant},
			Tenant:  action.Tenant{Name: *tenant},
			AccessToken: action.AccessToken{TokenType: "JWT", Claims: []action.Claim{
				{Name: "expires_in", Value: json.RawMessage(fmt.Sprint(*expires))},
				{Name: "aud", Value: json.RawMessage(`[]`)},
			}},
		},
		AllowedOperations: []action.AllowedOperation{
			{Op: action.OpAdd, Paths: []string{"/accessToken/claims/", "/accessToken/scopes/", "/accessToken/claims/aud/"}},
			{Op: action.OpRemove, Paths: []string{"/accessToken/scopes/", "/accessToken/claims/aud/"}},
			{Op: action.OpReplace, Paths: []string{"/accessToken/scopes/", "/accessToken/claims/aud/", "/accessToken/claims/expires_in"}},
		},
	}
	if *ip != "" {
		req.Event.Request.AdditionalHeaders = action.Headers{{Name: "x-client-source-ip", Value: []string{*ip}}}
	}
	eng := &engine.Engine{Geo: geo}
	d := eng.Decide(context.Background(), store.Load(), &engine.Call{
		Tenant: *tenant, ClientID: *client, GrantType: *grant, Headers: req.Event.Request.AdditionalHeaders, Now: now,
	})
	var resp *action.Response
	if d.Deny {
		resp = action.Failed(d.Denial.FailureReason, d.Denial.Description)
	} else {
		ops, _ := action.Operations(req, d)
		resp = action.Success(ops)
	}
	b, err := json.Marshal(resp)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, string(b))
	fmt.Fprintf(stdout, "country=%q\n", d.Country)
	for _, r := range d.Policies {
		line := fmt.Sprintf("%s: %s", r.Key, r.Action)
		if r.Mode == policy.Audit {
			line += " (audit)"
		}
		if r.Cause != policy.CauseNone {
			line += ", " + r.Cause.String()
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
	return 0
}
