// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package engine decides a token call against a policy snapshot. It is pure
// logic: GeoIP, ASN and AbuseIPDB come in through small interfaces, time
// through the call, so tables of cases run without files, servers or clocks.
package engine

import (
	"context"
	"encoding/json"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/state"
)

// GeoResolver maps an address to an ISO 3166-1 alpha-2 country code, or ""
// when no database knows it.
type GeoResolver interface {
	Country(ip netip.Addr) string
}

// ASNResolver maps an address to the number of its autonomous system, or 0
// when no database knows it (AS 0 is never an address's ASN).
type ASNResolver interface {
	ASN(ip netip.Addr) uint32
}

// ScoreQuery asks for an address's AbuseIPDB score.
type ScoreQuery struct {
	APIKey       policy.Secret
	IP           netip.Addr
	MaxAgeInDays int
	// TTL is how old a cached score may be.
	TTL time.Duration
}

// ScoreResult is an abuse confidence score, 0 to 100.
type ScoreResult struct {
	Score  int
	Cached bool
}

// Reputation answers score queries (AbuseIPDB behind a cache).
type Reputation interface {
	Score(ctx context.Context, q ScoreQuery) (ScoreResult, error)
}

// CachedReputation is a Reputation that can answer from its cache without a
// context: the engine then sets up the call's time budget only on a miss.
type CachedReputation interface {
	Cached(q ScoreQuery) (ScoreResult, bool)
}

// Header is a forwarded request header (the platform's additionalHeaders item).
type Header struct {
	Name  string   `json:"name"`
	Value []string `json:"value"`
}

// Claim is a token claim as the platform sends it; the value stays raw JSON
// until a condition reads it.
type Claim struct {
	Name  string          `json:"name"`
	Value json.RawMessage `json:"value"`
}

// Organization is an organization as the platform sends it (event.organization,
// event.user.organization). Depth is 0 for the root organization and more for
// a sub-organization.
type Organization struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Handle string `json:"orgHandle"`
	Depth  int    `json:"depth"`
}

// User is the user a token is for (event.user); absent for application
// tokens (client_credentials).
type User struct {
	ID           string        `json:"id"`
	Organization *Organization `json:"organization"`
}

// Call is what the engine needs to know about one platform call.
type Call struct {
	Tenant    string
	ClientID  string
	GrantType string
	// Headers are event.request.additionalHeaders as sent.
	Headers []Header
	Now     time.Time
	// RequestID is the platform's requestId (may be empty): a call it
	// retries carries the same one.
	RequestID string

	// Who the token is for: nil User and empty UserStore for application
	// tokens. Organization is the organization issuing the token (v1.1+).
	User         *User
	UserStore    string
	Organization *Organization
	// RequestedScopes are event.request.scopes; Claims the access token's
	// claims as sent (event.accessToken.claims).
	RequestedScopes []string
	Claims          []Claim
}

// header returns the first value of the named header (lower-case name),
// matched without regard to ASCII case.
func (c *Call) header(lower string) (string, bool) {
	for i := range c.Headers {
		if EqualFoldASCII(c.Headers[i].Name, lower) && len(c.Headers[i].Value) > 0 {
			return c.Headers[i].Value[0], true
		}
	}
	return "", false
}

// EqualFoldASCII reports whether a and b are equal under ASCII case folding:
// only A-Z and a-z match each other, every other byte only itself. HTTP
// header names, auth schemes and media types are ASCII and compared this
// way; strings.EqualFold folds Unicode too, so it would take
// "x-client-\u017fource-ip" (U+017F LATIN SMALL LETTER LONG S) for
// "x-client-source-ip", and U+212A KELVIN SIGN for "k".
func EqualFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// Engine decides calls.
type Engine struct {
	Geo GeoResolver
	// ASN is nil when no ASN database is configured: every ASN is then
	// unknown and each ASN rule's onUnknownASN applies.
	ASN ASNResolver
	// Reputation is nil when AbuseIPDB is switched off: the AbuseIPDB step of
	// every policy is then skipped (not failed).
	Reputation Reputation
	// ReputationBudget bounds the time all AbuseIPDB lookups of one call may
	// take together; the policy's failure mode applies past it.
	ReputationBudget time.Duration
	// State holds velocity counters and user history, shared by every
	// replica when it is Redis or Valkey. Nil: the rules that need it
	// follow their policy's onStoreFailure.
	State state.Store
}

// ScoreSource says where a decision's score came from.
type ScoreSource uint8

// Score sources.
const (
	ScoreNotNeeded ScoreSource = iota
	ScoreCacheHit
	ScoreCacheMiss
	ScoreFailed
	ScoreDisabled
)

func (s ScoreSource) String() string {
	return [...]string{"none", "hit", "miss", "error", "disabled"}[s]
}

// PolicyResult explains what one policy decided.
type PolicyResult struct {
	Key    string
	Mode   policy.Mode
	Action policy.Action
	// Cause is the rule that denied or shortened, CauseNone otherwise.
	Cause     policy.Cause
	ExpiresIn int64
	Trusted   bool
	// Rule names the user rule or velocity limit that decided, if one did.
	Rule string
	// Signals are the causes that judged the call risky (shortened or flagged).
	Signals policy.Signals
}

// Denial is the answer for a denied call.
type Denial struct {
	Policy        string
	Cause         policy.Cause
	FailureReason string
	Description   string
}

// Decision is the outcome of a call with its explanation.
type Decision struct {
	Deny   bool
	Denial Denial

	// ExpiresIn is the lifetime to cap the token at; 0 means no change.
	ExpiresIn       int64
	AddScopes       []string
	RemoveScopes    []string
	AddAudiences    []string
	RemoveAudiences []string
	Claims          []policy.Claim
	// RemoveClaims are removed when present; a claim set and removed is
	// removed. ArrayClaims change elements of array claims by value.
	RemoveClaims []string
	ArrayClaims  []policy.ArrayClaimChange
	// RefreshExpiresIn caps the refresh token's lifetime; 0 means no change.
	RefreshExpiresIn int64
	// Withhold the refresh token or the ID token from the token response.
	WithholdRefreshToken bool
	WithholdIDToken      bool
	// Signals are what judged the allowed call risky, by the Enforce
	// policies that let it through.
	Signals policy.Signals

	// StateError is the first failure of the shared state during the call
	// (StateUse says for what: velocity or history); the policies'
	// onStoreFailure applied.
	StateError error
	StateUse   string

	// Explanation. IP is the address judged; SentIP is the address as sent
	// when it differs (an IPv4 taken from inside an IPv6 address, see
	// ParseClientIP), and invalid otherwise.
	IP          netip.Addr
	SentIP      netip.Addr
	Country     string
	ASN         uint32 // 0 when unknown or not looked up
	Score       int    // -1 when not looked up
	ScoreSource ScoreSource
	ScoreError  error
	Policies    []PolicyResult
	Took        time.Duration

	// Room for the usual few results, so that recording them does not
	// allocate on the request path.
	policiesBuf [4]PolicyResult
}

// callState holds what one call has resolved so far, so that policies sharing a
// header, an address or a score resolve it once.
type callState struct {
	call       *Call
	header     string
	sent       netip.Addr
	ip         netip.Addr
	ipOK       bool
	ipResolved bool
	country    string
	geoDone    bool
	asn        uint32
	asnDone    bool
	ctx        context.Context
	cancel     context.CancelFunc

	userID   string
	userDone bool
	hist     *history
	histRaw  []byte // the stored history as read, nil when there was none
	// prefetched says histRaw and histErr were read in the velocity batch.
	prefetched bool
	stored     *history // histRaw decoded; hist differs for a retry
	histErr    error
	histDone   bool
	observe    *observation
}

// Decide evaluates every policy that matches the call, in snapshot order
// (by key); the snapshot's index spares it the policies that cannot. The
// first Enforce policy that denies decides the denial and later Enforce
// policies are skipped; Audit policies are always evaluated and never
// change the outcome. Allowed calls take the shortest lifetime and the union
// of the token changes; a scope or audience one policy removes is not added.
func (e *Engine) Decide(ctx context.Context, snap *policy.Snapshot, call *Call) *Decision {
	start := time.Now()
	d := &Decision{Score: -1}
	d.Policies = d.policiesBuf[:0]
	st := callState{call: call, ctx: ctx}
	defer func() {
		if st.cancel != nil {
			st.cancel()
		}
	}()
	// The names of the riskReasons claims of the Enforce policies that let
	// the call through, in snapshot order.
	var riskBuf [2]string
	riskClaims := riskBuf[:0]
	sel := snap.Select(call.Tenant, call.ClientID, call.GrantType)
	for p := sel.Next(); p != nil; p = sel.Next() {
		if p.Match.When != nil && !Holds(p.Match.When, call) {
			continue
		}
		if d.Deny && p.Mode == policy.Enforce {
			continue
		}
		r := e.evaluate(&st, d, p)
		d.Policies = append(d.Policies, r)
		if p.Mode == policy.Audit {
			continue
		}
		if r.Action == policy.Deny {
			d.Deny = true
			d.Denial = Denial{
				Policy:        p.Key,
				Cause:         r.Cause,
				FailureReason: p.FailureReason,
				Description:   p.Description(r.Cause, d.Country, d.Score),
			}
			continue
		}
		e.merge(d, p, r)
		if p.Token.RiskClaim != "" {
			riskClaims = append(riskClaims, p.Token.RiskClaim)
		}
	}
	if d.Deny {
		d.ExpiresIn, d.RefreshExpiresIn, d.Signals = 0, 0, 0
		d.AddScopes, d.RemoveScopes, d.AddAudiences, d.RemoveAudiences, d.Claims = nil, nil, nil, nil, nil
		d.RemoveClaims, d.ArrayClaims = nil, nil
		d.WithholdRefreshToken, d.WithholdIDToken = false, false
	} else {
		e.remember(ctx, &st, d)
		d.AddScopes = without(d.AddScopes, d.RemoveScopes)
		d.AddAudiences = without(d.AddAudiences, d.RemoveAudiences)
		if len(d.RemoveClaims) > 0 {
			d.Claims = slices.DeleteFunc(d.Claims, func(c policy.Claim) bool { return slices.Contains(d.RemoveClaims, c.Name) })
		}
		if d.Signals != 0 && len(riskClaims) > 0 {
			v, _ := json.Marshal(d.Signals.Names())
			for _, n := range riskClaims {
				d.Claims = addClaim(d.Claims, policy.Claim{Name: n, Value: v})
			}
		}
	}
	d.Took = time.Since(start)
	return d
}

func (e *Engine) evaluate(st *callState, d *Decision, p *policy.Policy) PolicyResult {
	r := PolicyResult{Key: p.Key, Mode: p.Mode}
	// User rules need no address: they come first and hold whatever the
	// address checks find.
	for i := range p.UserRules {
		u := &p.UserRules[i]
		if !Holds(&u.When, st.call) {
			continue
		}
		if u.Action == policy.Deny {
			r = deny(r, policy.CauseUserRule)
			r.Rule = u.Name
			return r
		}
		if shorten(&r, u.ExpiresIn, policy.CauseUserRule) {
			r.Rule = u.Name
		}
	}
	ip, ok := st.clientIP(p.IPHeader)
	if !ok {
		if p.OnMissingIP == policy.Deny {
			return deny(r, policy.CauseMissingClientIP)
		}
		// Allowed without an address: the address-based checks (networks,
		// countries, AbuseIPDB, limits by address, user history) are
		// skipped, the rules that need none still hold. No risk was judged
		// by AbuseIPDB, so onlyWhenRisky hours do not apply.
		if e.velocity(st, d, p, &r, netip.Addr{}) {
			return r
		}
		return accessHours(st, p, r, false)
	}
	d.IP, d.SentIP = ip, netip.Addr{}
	if st.sent != ip {
		d.SentIP = st.sent
	}
	if p.BlockedListUnavailable {
		return deny(r, policy.CauseListUnavailable)
	}
	// Blocked networks match the address as sent too, so that a block on an
	// IPv6 range (64:ff9b::/96, 2002::/16) still holds; trusted networks
	// match only the address judged, so translation never widens trust.
	if p.Blocked.Contains(ip) || (d.SentIP.IsValid() && p.Blocked.Contains(d.SentIP)) {
		return deny(r, policy.CauseBlockedNetwork)
	}
	if p.Geo != nil || p.Token.CountryClaim != "" {
		d.Country = st.countryOf(e.Geo, ip)
	}
	if p.ASN != nil || p.Token.ASNClaim != "" {
		d.ASN = st.asnOf(e.ASN, ip)
	}
	if p.Trusted.Contains(ip) {
		r.Trusted = true
		return r
	}
	if g := p.Geo; g != nil {
		if cause, denied := geoCheck(g, d.Country); denied {
			return deny(r, cause)
		}
	}
	if a := p.ASN; a != nil {
		if cause, denied := asnCheck(a, d.ASN); denied {
			return deny(r, cause)
		}
	}
	risky := false
	if a := p.Abuse; a != nil {
		var cause policy.Cause
		var act policy.Action
		act, cause, risky = e.abuseCheck(st, d, a, ip, &r)
		if act == policy.Deny {
			return deny(r, cause)
		}
	}
	if e.velocity(st, d, p, &r, ip) {
		return r
	}
	if p.History != nil && e.userHistory(st, d, p, &r, ip) {
		return r
	}
	return accessHours(st, p, r, risky)
}

// accessHours applies the policy's access hours to r: outside them the call
// is denied or its token shortened.
func accessHours(st *callState, p *policy.Policy, r PolicyResult, risky bool) PolicyResult {
	if h := p.AccessHours; h != nil && (!h.OnlyWhenRisky || risky) && !h.Inside(st.call.Now) {
		if h.Outside == policy.Deny {
			return deny(r, policy.CauseOutsideAccessHours)
		}
		shorten(&r, h.OutsideTo, policy.CauseOutsideAccessHours)
	}
	return r
}

func (e *Engine) abuseCheck(st *callState, d *Decision, a *policy.Abuse, ip netip.Addr, r *PolicyResult) (policy.Action, policy.Cause, bool) {
	if e.Reputation == nil {
		if d.ScoreSource == ScoreNotNeeded {
			d.ScoreSource = ScoreDisabled
		}
		return policy.Allow, policy.CauseNone, false
	}
	q := ScoreQuery{APIKey: a.APIKey, IP: ip, MaxAgeInDays: a.MaxAgeInDays, TTL: a.CacheTTL}
	res, hit := ScoreResult{}, false
	if c, ok := e.Reputation.(CachedReputation); ok {
		res, hit = c.Cached(q)
	}
	var err error
	if !hit {
		res, err = e.Reputation.Score(st.reputationCtx(e.ReputationBudget), q)
	}
	if err != nil {
		d.ScoreSource, d.ScoreError = ScoreFailed, err
		switch a.OnFailure {
		case policy.Deny:
			return policy.Deny, policy.CauseReputationUnavailable, false
		case policy.Shorten:
			shorten(r, a.FailureTo, policy.CauseReputationUnavailable)
			return policy.Shorten, policy.CauseReputationUnavailable, true
		default:
			return policy.Allow, policy.CauseNone, false
		}
	}
	d.Score = res.Score
	if res.Cached {
		d.ScoreSource = ScoreCacheHit
	} else {
		d.ScoreSource = ScoreCacheMiss
	}
	if a.DenyAbove >= 0 && res.Score > a.DenyAbove {
		return policy.Deny, policy.CauseHighRisk, true
	}
	if a.ShortenAtLeast >= 0 && res.Score >= a.ShortenAtLeast {
		shorten(r, a.ShortenTo, policy.CauseHighRisk)
		return policy.Shorten, policy.CauseHighRisk, true
	}
	return policy.Allow, policy.CauseNone, false
}

func geoCheck(g *policy.Geo, country string) (policy.Cause, bool) {
	if country == "" {
		return policy.CauseUnknownCountry, g.OnUnknown == policy.Deny
	}
	if g.Allowed != nil {
		return policy.CauseBlockedCountry, !slices.Contains(g.Allowed, country)
	}
	return policy.CauseBlockedCountry, slices.Contains(g.Blocked, country)
}

func asnCheck(a *policy.ASN, asn uint32) (policy.Cause, bool) {
	if asn == 0 {
		return policy.CauseUnknownASN, a.OnUnknown == policy.Deny
	}
	// The compiler sorts both lists.
	if a.Allowed != nil {
		_, ok := slices.BinarySearch(a.Allowed, asn)
		return policy.CauseBlockedASN, !ok
	}
	_, ok := slices.BinarySearch(a.Blocked, asn)
	return policy.CauseBlockedASN, ok
}

func deny(r PolicyResult, c policy.Cause) PolicyResult {
	r.Action, r.Cause, r.ExpiresIn, r.Rule, r.Signals = policy.Deny, c, 0, "", 0
	return r
}

// shorten marks r shortened to the lifetime to, and reports whether to is
// now the shortest (its cause is then c).
func shorten(r *PolicyResult, to int64, c policy.Cause) bool {
	if to <= 0 {
		return false
	}
	r.Action = policy.Shorten
	r.Signals = r.Signals.With(c)
	if r.ExpiresIn == 0 || to < r.ExpiresIn {
		r.ExpiresIn, r.Cause, r.Rule = to, c, ""
		return true
	}
	return false
}

// merge folds an allowing policy's lifetime and token changes into d.
func (e *Engine) merge(d *Decision, p *policy.Policy, r PolicyResult) {
	t := &p.Token
	d.ExpiresIn = minLifetime(d.ExpiresIn, r.ExpiresIn)
	d.ExpiresIn = minLifetime(d.ExpiresIn, t.MaxExpiresIn)
	d.AddScopes = union(d.AddScopes, t.AddScopes)
	d.RemoveScopes = union(d.RemoveScopes, t.RemoveScopes)
	d.AddAudiences = union(d.AddAudiences, t.AddAudiences)
	d.RemoveAudiences = union(d.RemoveAudiences, t.RemoveAudiences)
	for _, c := range t.Claims {
		d.Claims = addClaim(d.Claims, c)
	}
	if t.CountryClaim != "" && d.Country != "" {
		d.Claims = addClaim(d.Claims, policy.Claim{Name: t.CountryClaim, Value: quote(d.Country)})
	}
	if t.ASNClaim != "" && d.ASN != 0 {
		d.Claims = addClaim(d.Claims, policy.Claim{Name: t.ASNClaim, Value: strconv.AppendUint(nil, uint64(d.ASN), 10)})
	}
	if t.ScoreClaim != "" && d.Score >= 0 {
		d.Claims = addClaim(d.Claims, policy.Claim{Name: t.ScoreClaim, Value: []byte(strconv.Itoa(d.Score))})
	}
	d.RemoveClaims = union(d.RemoveClaims, t.RemoveClaims)
	for _, a := range t.ArrayClaims {
		d.ArrayClaims = mergeArrayChange(d.ArrayClaims, a)
	}
	d.RefreshExpiresIn = minLifetime(d.RefreshExpiresIn, t.MaxRefreshExpiresIn)
	d.Signals |= r.Signals
	if r.Action == policy.Shorten {
		w := &t.WhenRisky
		d.RefreshExpiresIn = minLifetime(d.RefreshExpiresIn, w.MaxRefreshExpiresIn)
		d.WithholdRefreshToken = d.WithholdRefreshToken || w.WithholdRefreshToken
		d.WithholdIDToken = d.WithholdIDToken || w.WithholdIDToken
	}
}

// mergeArrayChange folds a policy's changes to one array claim into cs:
// removals are united; for a value replaced by several policies, the first
// (in snapshot order) wins. The snapshot's own slices are never written.
func mergeArrayChange(cs []policy.ArrayClaimChange, a policy.ArrayClaimChange) []policy.ArrayClaimChange {
	for i := range cs {
		if cs[i].Name != a.Name {
			continue
		}
		c := policy.ArrayClaimChange{Name: a.Name, Remove: slices.Clone(cs[i].Remove), Replace: slices.Clone(cs[i].Replace)}
		c.Remove = union(c.Remove, a.Remove)
		for _, rp := range a.Replace {
			if !slices.ContainsFunc(c.Replace, func(x policy.Replacement) bool { return x.From == rp.From }) {
				c.Replace = append(c.Replace, rp)
			}
		}
		cs[i] = c
		return cs
	}
	return append(cs, a)
}

func quote(s string) []byte {
	// Country codes are two ASCII letters: no escaping is needed.
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func minLifetime(a, b int64) int64 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	case b < a:
		return b
	default:
		return a
	}
}

// addClaim keeps the first value set for a name: policies earlier in the
// snapshot order win.
func addClaim(cs []policy.Claim, c policy.Claim) []policy.Claim {
	for i := range cs {
		if cs[i].Name == c.Name {
			return cs
		}
	}
	return append(cs, c)
}

func union(a, b []string) []string {
	for _, v := range b {
		if !slices.Contains(a, v) {
			a = append(a, v)
		}
	}
	return a
}

func without(a, remove []string) []string {
	if len(remove) == 0 || len(a) == 0 {
		return a
	}
	out := a[:0:0]
	for _, v := range a {
		if !slices.Contains(remove, v) {
			out = append(out, v)
		}
	}
	return out
}

func (st *callState) clientIP(header string) (netip.Addr, bool) {
	if st.ipResolved && st.header == header {
		return st.ip, st.ipOK
	}
	st.header, st.ipResolved = header, true
	st.sent, st.ip, st.ipOK = netip.Addr{}, netip.Addr{}, false
	v, ok := st.call.header(header)
	if !ok {
		return st.ip, false
	}
	st.sent, st.ipOK = parseAddr(v)
	st.ip = EmbeddedIPv4(st.sent)
	st.geoDone, st.asnDone = false, false // a new address needs its own country and ASN
	return st.ip, st.ipOK
}

func (st *callState) countryOf(g GeoResolver, ip netip.Addr) string {
	if !st.geoDone {
		st.country, st.geoDone = "", true
		if g != nil {
			st.country = g.Country(ip)
		}
	}
	return st.country
}

func (st *callState) asnOf(r ASNResolver, ip netip.Addr) uint32 {
	if !st.asnDone {
		st.asn, st.asnDone = 0, true
		if r != nil {
			st.asn = r.ASN(ip)
		}
	}
	return st.asn
}

func (st *callState) reputationCtx(budget time.Duration) context.Context {
	if st.cancel == nil && budget > 0 {
		st.ctx, st.cancel = context.WithTimeout(st.ctx, budget)
	}
	return st.ctx
}
