// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package compiler turns a TokenPolicy and the Secrets it references into the
// immutable policy.Policy the engine serves. The controller and standalone
// mode both call Compile, so the two cannot disagree. Compile checks
// everything the CRD's schema checks too, since policy files in standalone
// mode never pass through an API server, and applies the same defaults.
package compiler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/internal/platform"
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

// Key returns the snapshot key of a policy: namespace/name.
func Key(namespace, name string) string { return namespace + "/" + name }

// Defaults applied when a field is unset (the CRD applies the same ones).
const (
	DefaultHeader        = "x-client-source-ip"
	DefaultMaxAgeInDays  = 30
	DefaultCacheTTL      = time.Hour
	DefaultFailureReason = "access_denied"
)

var (
	countryRE   = regexp.MustCompile(`^[A-Z]{2}$`)
	headerRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]*$`)
	claimNameRE = regexp.MustCompile(`^[A-Za-z0-9_.:#-]+$`)
	numberRE    = regexp.MustCompile(`^-?[0-9]+([.][0-9]+)?$`)
	clockRE     = regexp.MustCompile(`^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$`)
	weekdays    = map[v1alpha1.Weekday]time.Weekday{"Sunday": time.Sunday, "Monday": time.Monday,
		"Tuesday": time.Tuesday, "Wednesday": time.Wednesday, "Thursday": time.Thursday,
		"Friday": time.Friday, "Saturday": time.Saturday}
)

type compilation struct {
	problems []string
}

func (c *compilation) fail(field, format string, args ...any) {
	c.problems = append(c.problems, field+": "+fmt.Sprintf(format, args...))
}

// Compile builds the served form of tp. On an *InvalidSpecError the policy is
// nil; on a *SecretError the policy is usable and the error says what to fix.
func Compile(ctx context.Context, tp *v1alpha1.TokenPolicy, secrets SecretReader) (*policy.Policy, error) {
	c := &compilation{}
	s := &tp.Spec
	p := &policy.Policy{
		Key:           Key(tp.Namespace, tp.Name),
		Generation:    tp.Generation,
		IPHeader:      DefaultHeader,
		OnMissingIP:   policy.Deny,
		FailureReason: DefaultFailureReason,
	}
	switch s.Mode {
	case "", v1alpha1.ModeEnforce:
	case v1alpha1.ModeAudit:
		p.Mode = policy.Audit
	default:
		c.fail("spec.mode", "must be Enforce or Audit")
	}
	if m := s.Match; m != nil {
		p.Match.Tenants = strs(m.Tenants)
		p.Match.ClientIDs = strs(m.ClientIDs)
		for _, g := range m.GrantTypes {
			switch g {
			case "authorization_code", "client_credentials", "password", "refresh_token":
			default:
				c.fail("spec.match.grantTypes", "unsupported grant type %q", g)
			}
		}
		p.Match.GrantTypes = strs(m.GrantTypes)
	}
	if ip := s.ClientIP; ip != nil {
		if ip.Header != "" {
			if !headerRE.MatchString(ip.Header) {
				c.fail("spec.clientIP.header", "must be a header name")
			}
			p.IPHeader = strings.ToLower(ip.Header)
		}
		p.OnMissingIP = c.action("spec.clientIP.onMissing", string(ip.OnMissing), policy.Deny, false)
	}
	if n := s.Networks; n != nil {
		p.Trusted = c.prefixes("spec.networks.trustedCIDRs", n.TrustedCIDRs)
		p.Blocked = c.prefixes("spec.networks.blockedCIDRs", n.BlockedCIDRs)
	}
	if g := s.Geo; g != nil {
		p.Geo = c.geo(g)
	}
	var secretErr error
	if a := s.AbuseIPDB; a != nil {
		p.Abuse, secretErr = c.abuse(ctx, tp.Namespace, a, secrets)
	}
	if h := s.AccessHours; h != nil {
		p.AccessHours = c.hours(h)
		if h.OnlyWhenRisky && s.AbuseIPDB == nil {
			c.fail("spec.accessHours.onlyWhenRisky", "needs abuseIPDB: only AbuseIPDB judges a call risky")
		}
	}
	if t := s.Token; t != nil {
		p.Token = c.token(t)
	}
	if d := s.Denial; d != nil {
		c.denial(p, d)
	}
	if len(c.problems) > 0 {
		return nil, &InvalidSpecError{Problems: c.problems}
	}
	return p, secretErr
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

func (c *compilation) action(field, v string, def policy.Action, shorten bool) policy.Action {
	switch v {
	case "":
		return def
	case v1alpha1.ActionDeny:
		return policy.Deny
	case v1alpha1.ActionAllow:
		return policy.Allow
	case v1alpha1.ActionShorten:
		if shorten {
			return policy.Shorten
		}
	}
	c.fail(field, "unsupported value %q", v)
	return def
}

func (c *compilation) prefixes(field string, cidrs []v1alpha1.CIDR) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(cidrs))
	for _, s := range cidrs {
		pfx, err := netip.ParsePrefix(string(s))
		if err != nil {
			c.fail(field, "%q is not a network in CIDR notation", s)
			continue
		}
		out = append(out, pfx.Masked())
	}
	return out
}

func (c *compilation) countries(field string, cs []v1alpha1.CountryCode) []string {
	out := make([]string, 0, len(cs))
	for _, cc := range cs {
		if !countryRE.MatchString(string(cc)) {
			c.fail(field, "%q is not an ISO 3166-1 alpha-2 country code in upper case", cc)
		}
		out = append(out, string(cc))
	}
	return out
}

func (c *compilation) geo(g *v1alpha1.GeoRules) *policy.Geo {
	out := &policy.Geo{Blocked: c.countries("spec.geo.blockedCountries", g.BlockedCountries)}
	def := policy.Allow
	if len(g.AllowedCountries) > 0 {
		if len(g.BlockedCountries) > 0 {
			c.fail("spec.geo", "set blockedCountries or allowedCountries, not both")
		}
		out.Allowed = c.countries("spec.geo.allowedCountries", g.AllowedCountries)
		def = policy.Deny
	}
	out.OnUnknown = c.action("spec.geo.onUnknownCountry", string(g.OnUnknownCountry), def, false)
	return out
}

func (c *compilation) lifetime(field string, v int64) int64 {
	if v < 1 || v > 315360000 {
		c.fail(field, "must be between 1 and 315360000 seconds")
	}
	return v
}

func (c *compilation) score(field string, v v1alpha1.Score) int {
	if v < 0 || v > 100 {
		c.fail(field, "must be between 0 and 100")
	}
	return int(v)
}

func (c *compilation) abuse(ctx context.Context, ns string, a *v1alpha1.AbuseIPDBRules, secrets SecretReader) (*policy.Abuse, error) {
	out := &policy.Abuse{
		MaxAgeInDays: DefaultMaxAgeInDays, DenyAbove: -1, ShortenAtLeast: -1,
		CacheTTL: DefaultCacheTTL, OnFailure: policy.Deny,
	}
	if a.MaxAgeInDays != 0 {
		if a.MaxAgeInDays < 1 || a.MaxAgeInDays > 365 {
			c.fail("spec.abuseIPDB.maxAgeInDays", "must be between 1 and 365")
		}
		out.MaxAgeInDays = int(a.MaxAgeInDays)
	}
	if a.CacheTTLSeconds != 0 {
		if a.CacheTTLSeconds < 1 || a.CacheTTLSeconds > 604800 {
			c.fail("spec.abuseIPDB.cacheTTLSeconds", "must be between 1 and 604800")
		}
		out.CacheTTL = time.Duration(a.CacheTTLSeconds) * time.Second
	}
	if a.Deny != nil {
		out.DenyAbove = c.score("spec.abuseIPDB.deny.scoreAbove", a.Deny.ScoreAbove)
	}
	if sh := a.Shorten; sh != nil {
		out.ShortenAtLeast = c.score("spec.abuseIPDB.shorten.scoreAtLeast", sh.ScoreAtLeast)
		out.ShortenTo = c.lifetime("spec.abuseIPDB.shorten.expiresInSeconds", int64(sh.ExpiresInSeconds))
		if a.Deny != nil && out.ShortenAtLeast > out.DenyAbove {
			c.fail("spec.abuseIPDB", "shorten.scoreAtLeast must not be above deny.scoreAbove: scores that shorten lie below those that deny")
		}
	}
	if f := a.OnFailure; f != nil {
		out.OnFailure = c.action("spec.abuseIPDB.onFailure.action", string(f.Action), policy.Deny, true)
		switch {
		case out.OnFailure == policy.Shorten && f.ExpiresInSeconds == nil:
			c.fail("spec.abuseIPDB.onFailure", "expiresInSeconds is required when action is Shorten")
		case out.OnFailure != policy.Shorten && f.ExpiresInSeconds != nil:
			c.fail("spec.abuseIPDB.onFailure", "expiresInSeconds is only used when action is Shorten")
		case f.ExpiresInSeconds != nil:
			out.FailureTo = c.lifetime("spec.abuseIPDB.onFailure.expiresInSeconds", int64(*f.ExpiresInSeconds))
		}
	}
	ref := a.APIKeySecretRef
	if ref.Name == "" || ref.Key == "" {
		c.fail("spec.abuseIPDB.apiKeySecretRef", "name and key are required")
		return out, nil
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

func (c *compilation) clock(field string, v v1alpha1.ClockTime) int {
	if !clockRE.MatchString(string(v)) {
		c.fail(field, "must be a time of day as HH:MM, from 00:00 to 24:00")
		return 0
	}
	var h, m int
	_, _ = fmt.Sscanf(string(v), "%d:%d", &h, &m)
	return h*60 + m
}

func (c *compilation) hours(h *v1alpha1.AccessHours) *policy.AccessHours {
	out := &policy.AccessHours{OnlyWhenRisky: h.OnlyWhenRisky}
	tz := h.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "Local" {
		c.fail("spec.accessHours.timeZone", "%q is not an IANA time zone name", tz)
	}
	out.Location = loc
	if len(h.Windows) == 0 {
		c.fail("spec.accessHours.windows", "at least one window is required")
	}
	for i, w := range h.Windows {
		field := fmt.Sprintf("spec.accessHours.windows[%d]", i)
		win := policy.Window{StartMin: c.clock(field+".start", w.Start), EndMin: c.clock(field+".end", w.End)}
		if win.StartMin >= win.EndMin {
			c.fail(field, "start must be before end; split a window that crosses midnight in two")
		}
		for _, d := range w.Days {
			wd, ok := weekdays[d]
			if !ok {
				c.fail(field+".days", "%q is not a day of the week", d)
			}
			win.Days |= 1 << uint(wd)
		}
		if win.Days == 0 {
			win.Days = 0x7f
		}
		out.Windows = append(out.Windows, win)
	}
	switch h.Outside.Action {
	case v1alpha1.ActionDeny:
		out.Outside = policy.Deny
		if h.Outside.ExpiresInSeconds != nil {
			c.fail("spec.accessHours.outside", "expiresInSeconds is only used when action is Shorten")
		}
	case v1alpha1.ActionShorten:
		out.Outside = policy.Shorten
		if h.Outside.ExpiresInSeconds == nil {
			c.fail("spec.accessHours.outside", "expiresInSeconds is required when action is Shorten")
		} else {
			out.OutsideTo = c.lifetime("spec.accessHours.outside.expiresInSeconds", int64(*h.Outside.ExpiresInSeconds))
		}
	default:
		c.fail("spec.accessHours.outside.action", "must be Deny or Shorten")
	}
	return out
}

func (c *compilation) claimName(field, n string) {
	switch {
	case !claimNameRE.MatchString(n) || len(n) > 128:
		c.fail(field, "%q is not a valid claim name", n)
	case platform.FixedClaim(n):
		c.fail(field, "%q is a standard claim the platform manages; choose another name", n)
	}
}

func (c *compilation) token(t *v1alpha1.TokenChanges) policy.TokenChanges {
	var out policy.TokenChanges
	if t.MaxExpiresInSeconds != nil {
		out.MaxExpiresIn = c.lifetime("spec.token.maxExpiresInSeconds", int64(*t.MaxExpiresInSeconds))
	}
	if s := t.Scopes; s != nil {
		out.AddScopes, out.RemoveScopes = strs(s.Add), strs(s.Remove)
		for _, v := range out.AddScopes {
			if !platform.ValidScope(v) {
				c.fail("spec.token.scopes.add", "%q is not a scope token", v)
			}
		}
	}
	if a := t.Audiences; a != nil {
		out.AddAudiences, out.RemoveAudiences = strs(a.Add), a.Remove
		for _, v := range out.AddAudiences {
			if !platform.ValidAudience(v) {
				c.fail("spec.token.audiences.add", "%q must be a URI such as https://api.example.com or a name of letters, digits, dots and hyphens", v)
			}
		}
	}
	seen := map[string]bool{}
	for i, cl := range t.Claims {
		field := fmt.Sprintf("spec.token.claims[%d]", i)
		n := string(cl.Name)
		c.claimName(field+".name", n)
		if seen[n] {
			c.fail(field+".name", "claim %q is set twice", n)
		}
		seen[n] = true
		v, ok := c.claimValue(field, cl)
		if ok {
			out.Claims = append(out.Claims, policy.Claim{Name: n, Value: v})
		}
	}
	if d := t.DecisionClaims; d != nil {
		out.CountryClaim, out.ScoreClaim = string(d.Country), string(d.AbuseScore)
		for _, fn := range [][2]string{{"country", out.CountryClaim}, {"abuseScore", out.ScoreClaim}} {
			f, n := fn[0], fn[1]
			if n == "" {
				continue
			}
			c.claimName("spec.token.decisionClaims."+f, n)
			if seen[n] {
				c.fail("spec.token.decisionClaims."+f, "claim %q is also set in claims", n)
			}
			seen[n] = true
		}
	}
	return out
}

func (c *compilation) claimValue(field string, cl v1alpha1.Claim) (json.RawMessage, bool) {
	set := 0
	var v json.RawMessage
	if cl.String != nil {
		set++
		v, _ = json.Marshal(*cl.String)
	}
	if cl.Number != nil {
		set++
		if !numberRE.MatchString(*cl.Number) {
			c.fail(field+".number", "must be a decimal number such as 42 or -0.5")
		}
		v = json.RawMessage(*cl.Number)
	}
	if cl.Boolean != nil {
		set++
		v, _ = json.Marshal(*cl.Boolean)
	}
	if cl.Strings != nil {
		set++
		v, _ = json.Marshal(cl.Strings)
	}
	if set != 1 {
		c.fail(field, "set exactly one of string, number, boolean or strings")
		return nil, false
	}
	return v, true
}

func (c *compilation) denial(p *policy.Policy, d *v1alpha1.Denial) {
	if d.FailureReason != "" {
		r := string(d.FailureReason)
		switch {
		case !platform.ValidText(r, platform.MaxReasonLen):
			c.fail("spec.denial.failureReason", "may contain only letters, digits, spaces and the characters _ . ! ? ; : ' ( ) [ ] - (at most 100)")
		case platform.RefusedReason(r):
			c.fail("spec.denial.failureReason", "server_error, internal_server_error and 500 are refused by the platform")
		}
		p.FailureReason = r
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
		{policy.CauseHighRisk, ds.HighRisk},
		{policy.CauseReputationUnavailable, ds.ReputationUnavailable},
		{policy.CauseOutsideAccessHours, ds.OutsideAccessHours},
	} {
		cause, v := e.cause, e.v
		if v == "" {
			continue
		}
		// Check the text as sent: placeholders filled with their longest values.
		filled := strings.NewReplacer("{country}", "XX", "{score}", "100").Replace(string(v))
		if len(v) > platform.MaxDescriptionLen || !platform.ValidText(filled, platform.MaxDescriptionLen) {
			c.fail("spec.denial.descriptions", "the %s description may contain only letters, digits, spaces, the characters _ . ! ? ; : ' ( ) [ ] - and the placeholders {country} and {score} (at most 300)", cause)
		}
		p.Descriptions[cause] = string(v)
	}
}

// IsSecretError reports whether err is a *SecretError.
func IsSecretError(err error) bool {
	var se *SecretError
	return errors.As(err, &se)
}
