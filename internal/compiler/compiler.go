// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package compiler turns a TokenPolicy and the Secrets it references into the
// immutable policy.Policy the engine serves. The controller and standalone
// mode both call Compile, so the two cannot disagree.
//
// IP lists a policy names (networks.trustedLists, blockedLists) come from a
// ListReader and are merged with the inline CIDRs into the policy's
// NetSets, so the request path looks an address up once per set whatever
// the number of lists.
//
// Compile assumes a spec the CRD's schema accepts: the API server checks it
// in a cluster, and internal/crdvalidation checks policy files against the
// same CRD in standalone mode, so every spec rule is written once, as a
// marker in api/v1alpha1 (see docs/development.md). Compile judges only
// what the schema cannot (an unknown time zone, a missing Secret), fills in
// the defaults for unset fields, and never panics on input the schema would
// have rejected.
package compiler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/internal/policy"
)

// SecretReader reads one key of a Secret. It returns a *SecretError with
// Missing set when the Secret or the key does not exist.
type SecretReader interface {
	SecretValue(ctx context.Context, namespace, name, key string) ([]byte, error)
}

// InvalidSpecError lists what is wrong with a spec. The policy cannot be served.
type InvalidSpecError struct {
	Problems []string
}

func (e *InvalidSpecError) Error() string { return strings.Join(e.Problems, "; ") }

// SecretError is a referenced Secret that is missing or unusable. Compile
// still returns a policy: its AbuseIPDB step fails and the policy's failure
// mode applies until the Secret is fixed.
type SecretError struct {
	Namespace, Name, Key string
	Missing              bool
	Detail               string
}

func (e *SecretError) Error() string {
	if e.Missing {
		return fmt.Sprintf("secret %s/%s has no key %q: %s", e.Namespace, e.Name, e.Key, e.Detail)
	}
	return fmt.Sprintf("secret %s/%s key %q: %s", e.Namespace, e.Name, e.Key, e.Detail)
}

// ListReader returns the content of IP lists.
type ListReader interface {
	// IPList returns the networks of the IPList namespace/name, or a
	// *ListError when it does not exist or has never loaded. Any other
	// error is transient and fails the compilation (the caller retries).
	IPList(ctx context.Context, namespace, name string) (*policy.NetSet, error)
}

// ListError is a referenced IP list that does not exist or has never
// loaded. Compile still returns a policy: a missing trusted list trusts
// nothing, and a missing blocked list denies every call with an address
// (policy.CauseListUnavailable) until it loads.
type ListError struct {
	Namespace, Name string
	// Blocked is true for a list named in blockedLists (Compile sets it).
	Blocked bool
	// Pending: the list exists but no load of it has finished yet (a
	// replica starting up).
	Pending bool
	// Detail says what is wrong, such as the list's own Ready message.
	Detail string
}

func (e *ListError) Error() string {
	if e.Blocked {
		return fmt.Sprintf("blocked IPList %s %s: every call the policy matches that has an address is denied (list_unavailable) until it loads",
			e.Name, e.Detail)
	}
	return fmt.Sprintf("trusted IPList %s %s: it trusts nothing until it loads", e.Name, e.Detail)
}

// ListErrors returns the *ListErrors in err (Compile joins one per list).
func ListErrors(err error) []*ListError {
	var out []*ListError
	for _, e := range leaves(err) {
		var le *ListError
		if errors.As(e, &le) {
			out = append(out, le)
		}
	}
	return out
}

// Served reports whether a policy Compile returned with err is to be
// served: err is nil or only names unusable Secrets and lists.
func Served(err error) bool {
	for _, e := range leaves(err) {
		var se *SecretError
		var le *ListError
		if !errors.As(e, &se) && !errors.As(e, &le) {
			return false
		}
	}
	return true
}

// leaves returns the errors joined in err (err itself when it joins none).
func leaves(err error) []error {
	if err == nil {
		return nil
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		return []error{err}
	}
	var out []error
	for _, e := range joined.Unwrap() {
		out = append(out, leaves(e)...)
	}
	return out
}

// Key returns the snapshot key of a policy: namespace/name.
func Key(namespace, name string) string { return namespace + "/" + name }

// Defaults used when a field is unset: the CRD's defaults, for objects that
// did not pass through defaulting (typed objects built in code).
const (
	DefaultHeader        = "x-client-source-ip"
	DefaultMaxAgeInDays  = 30
	DefaultCacheTTL      = time.Hour
	DefaultFailureReason = "access_denied"
	DefaultTimeZone      = "UTC"
)

var weekdays = map[v1alpha1.Weekday]time.Weekday{"Sunday": time.Sunday, "Monday": time.Monday,
	"Tuesday": time.Tuesday, "Wednesday": time.Wednesday, "Thursday": time.Thursday,
	"Friday": time.Friday, "Saturday": time.Saturday}

type compilation struct {
	problems []string
}

func (c *compilation) fail(field, format string, args ...any) {
	c.problems = append(c.problems, field+": "+fmt.Sprintf(format, args...))
}

// unconvertible records a value the schema should have rejected and that
// cannot be turned into its served form. Guessing could widen a rule (an
// unreadable window or network), so the policy is not served.
func (c *compilation) unconvertible(field string, v any) {
	c.fail(field, "%q cannot be converted; the CRD's schema rejects it (run tokenguard validate)", v)
}

// Compile builds the served form of tp with no IP lists: every list the
// policy names counts as missing. See CompileWith.
func Compile(ctx context.Context, tp *v1alpha1.TokenPolicy, secrets SecretReader) (*policy.Policy, error) {
	return CompileWith(ctx, tp, secrets, nil)
}

// CompileWith builds the served form of tp, reading its Secrets and IP
// lists (lists nil: none exists). On an *InvalidSpecError the policy is
// nil; on *SecretErrors and *ListErrors (joined) the policy is usable and
// the errors say what to fix (Served); on any other error, a transient
// failure to read, the policy is nil.
func CompileWith(ctx context.Context, tp *v1alpha1.TokenPolicy, secrets SecretReader, lists ListReader) (*policy.Policy, error) {
	c := &compilation{}
	s := &tp.Spec
	p := &policy.Policy{
		Key:           Key(tp.Namespace, tp.Name),
		Generation:    tp.Generation,
		IPHeader:      DefaultHeader,
		OnMissingIP:   policy.Deny,
		FailureReason: DefaultFailureReason,
	}
	if s.Mode == v1alpha1.ModeAudit {
		p.Mode = policy.Audit
	}
	if m := s.Match; m != nil {
		p.Match.Tenants = strs(m.Tenants)
		p.Match.ClientIDs = strs(m.ClientIDs)
		p.Match.GrantTypes = strs(m.GrantTypes)
		if !empty(&m.Conditions) {
			w := c.conditions("spec.match", &m.Conditions)
			p.Match.When = &w
		}
	}
	p.UserRules = c.userRules(s.UserRules)
	c.stateRules(s, p)
	if ip := s.ClientIP; ip != nil {
		if ip.Header != "" {
			p.IPHeader = strings.ToLower(ip.Header)
		}
		p.OnMissingIP = action(string(ip.OnMissing), policy.Deny, false)
	}
	var listErrs []error
	if n := s.Networks; n != nil {
		l := &listing{ctx: ctx, ns: tp.Namespace, reader: lists}
		p.Blocked = l.merge(c.prefixes("spec.networks.blockedCIDRs", n.BlockedCIDRs), n.BlockedLists, true)
		p.Trusted = l.merge(c.prefixes("spec.networks.trustedCIDRs", n.TrustedCIDRs), n.TrustedLists, false)
		if l.failed != nil {
			return nil, l.failed
		}
		for _, e := range l.errs {
			p.BlockedListUnavailable = p.BlockedListUnavailable || e.Blocked
			listErrs = append(listErrs, e)
		}
	}
	if g := s.Geo; g != nil {
		p.Geo = geo(g)
	}
	if a := s.ASN; a != nil {
		p.ASN = c.asn(a)
	}
	var secretErr error
	if a := s.AbuseIPDB; a != nil {
		p.Abuse, secretErr = abuse(ctx, tp.Namespace, a, secrets)
	}
	if h := s.AccessHours; h != nil {
		p.AccessHours = c.hours(h)
	}
	if t := s.Token; t != nil {
		p.Token = c.token(t)
	}
	if d := s.Denial; d != nil {
		denial(p, d)
	}
	if len(c.problems) > 0 {
		return nil, &InvalidSpecError{Problems: c.problems}
	}
	if len(listErrs) > 0 {
		return p, errors.Join(append(listErrs, secretErr)...)
	}
	return p, secretErr
}

// listing reads the IP lists of one policy.
type listing struct {
	ctx    context.Context
	ns     string
	reader ListReader
	errs   []*ListError
	failed error
}

// merge returns the union of the inline set and the named lists', built
// once here. A single list and no inline CIDRs share the list's set.
func (l *listing) merge(inline *policy.NetSet, names []v1alpha1.IPListName, blocked bool) *policy.NetSet {
	sets := make([]*policy.NetSet, 0, len(names)+1)
	sets = append(sets, inline)
	for _, n := range names {
		name := string(n)
		var set *policy.NetSet
		var err error
		if l.reader == nil {
			err = &ListError{Namespace: l.ns, Name: name, Detail: "cannot be read here"}
		} else {
			set, err = l.reader.IPList(l.ctx, l.ns, name)
		}
		var le *ListError
		switch {
		case errors.As(err, &le):
			e := *le
			e.Blocked = blocked
			l.errs = append(l.errs, &e)
		case err != nil:
			if l.failed == nil {
				l.failed = fmt.Errorf("IPList %s/%s: %w", l.ns, name, err)
			}
		default:
			sets = append(sets, set)
		}
	}
	return policy.Union(sets...)
}

func strs[T ~string](in []T) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = string(v)
	}
	return out
}

// action converts an action name; an unset one (or Shorten where it has no
// meaning) is def.
func action(v string, def policy.Action, shorten bool) policy.Action {
	switch v {
	case v1alpha1.ActionDeny:
		return policy.Deny
	case v1alpha1.ActionAllow:
		return policy.Allow
	case v1alpha1.ActionShorten:
		if shorten {
			return policy.Shorten
		}
	}
	return def
}

// prefixes builds the set of the CIDRs, once per compiled policy: the
// request path only looks addresses up in it.
func (c *compilation) prefixes(field string, cidrs []v1alpha1.CIDR) *policy.NetSet {
	var b policy.NetSetBuilder
	for i, s := range cidrs {
		pfx, err := netip.ParsePrefix(string(s))
		if err != nil {
			c.unconvertible(fmt.Sprintf("%s[%d]", field, i), s)
			continue
		}
		b.Add(pfx)
	}
	return b.Build()
}

func geo(g *v1alpha1.GeoRules) *policy.Geo {
	out := &policy.Geo{Blocked: strs(g.BlockedCountries), Allowed: strs(g.AllowedCountries)}
	if out.Blocked == nil {
		out.Blocked = []string{}
	}
	def := policy.Allow
	if len(g.AllowedCountries) > 0 {
		def = policy.Deny
	}
	out.OnUnknown = action(string(g.OnUnknownCountry), def, false)
	return out
}

func (c *compilation) asn(a *v1alpha1.ASNRules) *policy.ASN {
	out := &policy.ASN{Blocked: c.asNumbers("spec.asn.blockedASNs", a.BlockedASNs), Allowed: c.asNumbers("spec.asn.allowedASNs", a.AllowedASNs)}
	if out.Blocked == nil {
		out.Blocked = []uint32{}
	}
	def := policy.Allow
	if len(a.AllowedASNs) > 0 {
		def = policy.Deny
	}
	out.OnUnknown = action(string(a.OnUnknownASN), def, false)
	return out
}

// asNumbers converts ASNs; one outside 1 to 2^32-1 cannot be one, and
// dropping it could widen an allow list's meaning, so it is refused.
func (c *compilation) asNumbers(field string, in []v1alpha1.ASNumber) []uint32 {
	if len(in) == 0 {
		return nil
	}
	out := make([]uint32, 0, len(in))
	for i, n := range in {
		if n < 1 || n > math.MaxUint32 {
			c.unconvertible(fmt.Sprintf("%s[%d]", field, i), strconv.FormatInt(int64(n), 10))
			continue
		}
		out = append(out, uint32(n))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func abuse(ctx context.Context, ns string, a *v1alpha1.AbuseIPDBRules, secrets SecretReader) (*policy.Abuse, error) {
	out := &policy.Abuse{
		MaxAgeInDays: DefaultMaxAgeInDays, DenyAbove: -1, ShortenAtLeast: -1,
		CacheTTL: DefaultCacheTTL, OnFailure: policy.Deny,
	}
	if a.MaxAgeInDays > 0 {
		out.MaxAgeInDays = int(a.MaxAgeInDays)
	}
	if a.CacheTTLSeconds > 0 {
		out.CacheTTL = time.Duration(a.CacheTTLSeconds) * time.Second
	}
	if a.Deny != nil {
		out.DenyAbove = int(a.Deny.ScoreAbove)
	}
	if sh := a.Shorten; sh != nil {
		out.ShortenAtLeast = int(sh.ScoreAtLeast)
		out.ShortenTo = int64(sh.ExpiresInSeconds)
	}
	if f := a.OnFailure; f != nil {
		out.OnFailure = action(string(f.Action), policy.Deny, true)
		if out.OnFailure == policy.Shorten && f.ExpiresInSeconds != nil {
			out.FailureTo = int64(*f.ExpiresInSeconds)
		}
	}
	ref := a.APIKeySecretRef
	if ref.Name == "" || ref.Key == "" {
		return out, &SecretError{Namespace: ns, Name: ref.Name, Key: ref.Key, Missing: true, Detail: "apiKeySecretRef names no Secret key"}
	}
	v, err := secrets.SecretValue(ctx, ns, ref.Name, ref.Key)
	if err != nil {
		return out, err
	}
	key := strings.TrimSpace(string(v))
	if key == "" {
		return out, &SecretError{Namespace: ns, Name: ref.Name, Key: ref.Key, Detail: "the key is empty"}
	}
	out.APIKey = policy.Secret(key)
	return out, nil
}

// clock converts HH:MM (00:00 to 24:00) to minutes since midnight.
func clock(v v1alpha1.ClockTime) (int, bool) {
	var h, m int
	if n, err := fmt.Sscanf(string(v), "%d:%d", &h, &m); n != 2 || err != nil || h < 0 || m < 0 || m > 59 || h*60+m > 24*60 {
		return 0, false
	}
	return h*60 + m, true
}

func (c *compilation) hours(h *v1alpha1.AccessHours) *policy.AccessHours {
	out := &policy.AccessHours{OnlyWhenRisky: h.OnlyWhenRisky, Outside: policy.Deny}
	tz := h.TimeZone
	if tz == "" {
		tz = DefaultTimeZone
	}
	// The schema cannot know the time zone database; "Local" would be the
	// machine's zone, different on each replica.
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "Local" {
		c.fail("spec.accessHours.timeZone", "%q is not an IANA time zone name", tz)
	}
	out.Location = loc
	for i, w := range h.Windows {
		field := fmt.Sprintf("spec.accessHours.windows[%d]", i)
		start, ok1 := clock(w.Start)
		end, ok2 := clock(w.End)
		if !ok1 || !ok2 {
			c.unconvertible(field, string(w.Start)+"-"+string(w.End))
		}
		win := policy.Window{StartMin: start, EndMin: end}
		for _, d := range w.Days {
			wd, ok := weekdays[d]
			if !ok {
				c.unconvertible(field+".days", d)
				continue
			}
			win.Days |= 1 << uint(wd)
		}
		if len(w.Days) == 0 {
			win.Days = 0x7f
		}
		out.Windows = append(out.Windows, win)
	}
	if h.Outside.Action == v1alpha1.ActionShorten {
		out.Outside = policy.Shorten
		if h.Outside.ExpiresInSeconds != nil {
			out.OutsideTo = int64(*h.Outside.ExpiresInSeconds)
		}
	}
	return out
}

func (c *compilation) token(t *v1alpha1.TokenChanges) policy.TokenChanges {
	var out policy.TokenChanges
	if t.MaxExpiresInSeconds != nil {
		out.MaxExpiresIn = int64(*t.MaxExpiresInSeconds)
	}
	if s := t.Scopes; s != nil {
		out.AddScopes, out.RemoveScopes = strs(s.Add), strs(s.Remove)
	}
	if a := t.Audiences; a != nil {
		out.AddAudiences, out.RemoveAudiences = strs(a.Add), a.Remove
	}
	for i, cl := range t.Claims {
		n := string(cl.Name)
		v, ok := claimValue(cl)
		if !ok {
			c.unconvertible(fmt.Sprintf("spec.token.claims[%d]", i), n)
			continue
		}
		out.Claims = append(out.Claims, policy.Claim{Name: n, Value: v})
	}
	userTokenChanges(t, &out)
	if d := t.DecisionClaims; d != nil {
		out.CountryClaim, out.ScoreClaim, out.RiskClaim = string(d.Country), string(d.AbuseScore), string(d.RiskReasons)
		out.ASNClaim = string(d.ASN)
	}
	return out
}

// claimValue is the JSON value of a claim: its first value field set (the
// schema allows exactly one).
func claimValue(cl v1alpha1.Claim) (json.RawMessage, bool) {
	var v json.RawMessage
	var err error
	switch {
	case cl.String != nil:
		v, err = json.Marshal(*cl.String)
	case cl.Number != nil:
		// Sent as written (42, -0.5), never through a float.
		v = json.RawMessage(*cl.Number)
		if !json.Valid(v) {
			return nil, false
		}
	case cl.Boolean != nil:
		v, err = json.Marshal(*cl.Boolean)
	case cl.Strings != nil:
		v, err = json.Marshal(cl.Strings)
	default:
		return nil, false
	}
	return v, err == nil
}

func denial(p *policy.Policy, d *v1alpha1.Denial) {
	if d.FailureReason != "" {
		p.FailureReason = string(d.FailureReason)
	}
	ds := d.Descriptions
	if ds == nil {
		return
	}
	for _, e := range []struct {
		cause policy.Cause
		v     v1alpha1.Description
	}{
		{policy.CauseMissingClientIP, ds.MissingClientIP},
		{policy.CauseBlockedNetwork, ds.BlockedNetwork},
		{policy.CauseBlockedCountry, ds.BlockedCountry},
		{policy.CauseUnknownCountry, ds.UnknownCountry},
		{policy.CauseBlockedASN, ds.BlockedASN},
		{policy.CauseUnknownASN, ds.UnknownASN},
		{policy.CauseHighRisk, ds.HighRisk},
		{policy.CauseReputationUnavailable, ds.ReputationUnavailable},
		{policy.CauseOutsideAccessHours, ds.OutsideAccessHours},
		{policy.CauseUserRule, ds.UserRule},
		{policy.CauseVelocity, ds.Velocity},
		{policy.CauseNewCountry, ds.NewCountry},
		{policy.CauseImpossibleTravel, ds.ImpossibleTravel},
		{policy.CauseStateUnavailable, ds.StateUnavailable},
		{policy.CauseListUnavailable, ds.ListUnavailable},
	} {
		if e.v != "" {
			p.Descriptions[e.cause] = string(e.v)
		}
	}
}

// IsSecretError reports whether err is a *SecretError.
func IsSecretError(err error) bool {
	var se *SecretError
	return errors.As(err, &se)
}
