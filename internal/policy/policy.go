// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package policy is the compiled, immutable form of TokenPolicies that the
// action endpoint serves from. It imports nothing from Kubernetes: the
// controller and standalone mode both produce it through one compile step,
// and the decision engine consumes only it.
package policy

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Mode says whether a policy's decision changes the outcome.
type Mode uint8

const (
	// Enforce applies the decision.
	Enforce Mode = iota
	// Audit records the decision only.
	Audit
)

func (m Mode) String() string {
	if m == Audit {
		return "Audit"
	}
	return "Enforce"
}

// Action is what a rule does to a call.
type Action uint8

const (
	// Allow lets the call through.
	Allow Action = iota
	// Deny blocks token issuance.
	Deny
	// Shorten lets the call through with a shorter token lifetime.
	Shorten
	// Flag lets the call through and records the signal (logs, metrics,
	// the riskReasons claim).
	Flag
)

func (a Action) String() string {
	switch a {
	case Deny:
		return "Deny"
	case Shorten:
		return "Shorten"
	case Flag:
		return "Flag"
	default:
		return "Allow"
	}
}

// Cause is why a policy denied or changed a call.
type Cause uint8

// Causes, in the order the checks run.
const (
	CauseNone Cause = iota
	CauseMissingClientIP
	CauseBlockedNetwork
	CauseBlockedCountry
	CauseUnknownCountry
	CauseBlockedASN
	CauseUnknownASN
	CauseHighRisk
	CauseReputationUnavailable
	CauseOutsideAccessHours
	CauseUserRule
	CauseVelocity
	CauseNewCountry
	CauseImpossibleTravel
	CauseStateUnavailable
	CauseListUnavailable
	numCauses
)

var causeNames = [numCauses]string{"none", "missing_client_ip", "blocked_network", "blocked_country",
	"unknown_country", "blocked_asn", "unknown_asn", "high_risk", "reputation_unavailable", "outside_access_hours", "user_rule",
	"velocity", "new_country", "impossible_travel", "state_unavailable", "list_unavailable"}

// Signals is a set of causes: the signals that judged a call risky.
type Signals uint32

// With returns s with c added.
func (s Signals) With(c Cause) Signals { return s | 1<<c }

// Names returns the names of the causes in s, in cause order.
func (s Signals) Names() []string {
	if s == 0 {
		return nil
	}
	var out []string
	for c := Cause(1); c < numCauses; c++ {
		if s&(1<<c) != 0 {
			out = append(out, causeNames[c])
		}
	}
	return out
}

func (c Cause) String() string {
	if c < numCauses {
		return causeNames[c]
	}
	return "unknown"
}

// DefaultDescriptions are the failure descriptions used when a policy sets none.
// Each stays within the platform's description rules.
var DefaultDescriptions = [numCauses]string{
	CauseMissingClientIP:       "Request denied: No client IP address provided.",
	CauseBlockedNetwork:        "Access token issuance is blocked from your network.",
	CauseBlockedCountry:        "Access token issuance is blocked from your region ({country}).",
	CauseUnknownCountry:        "Access token issuance is blocked because your region could not be determined.",
	CauseBlockedASN:            "Access token issuance is blocked from your network provider.",
	CauseUnknownASN:            "Access token issuance is blocked because your network provider could not be determined.",
	CauseHighRisk:              "Access token issuance is blocked due to high IP risk.",
	CauseReputationUnavailable: "Access token issuance is blocked because the IP risk check is unavailable.",
	CauseOutsideAccessHours:    "Access token issuance is not allowed at this time.",
	CauseUserRule:              "Access token issuance is not allowed for this user.",
	CauseVelocity:              "Too many token requests. Try again later.",
	CauseNewCountry:            "Access token issuance from a new country ({country}) needs a review.",
	CauseImpossibleTravel:      "Access token issuance is blocked: sign-in locations are too far apart.",
	CauseStateUnavailable:      "Access token issuance is blocked because a risk check is unavailable.",
	CauseListUnavailable:       "Access token issuance is blocked because a network list is unavailable.",
}

// Secret is a string that never prints: fmt, JSON and logr all see a
// placeholder, so a policy value can be logged without leaking its API key.
type Secret string

const redacted = "[redacted]"

func (Secret) String() string               { return redacted }
func (Secret) GoString() string             { return redacted }
func (Secret) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
func (Secret) MarshalLog() any              { return redacted }
func (s Secret) Reveal() string             { return string(s) }

// Policy is one compiled TokenPolicy.
type Policy struct {
	// Key is namespace/name (or the file and name in standalone mode); it
	// orders policies and names them in logs and metrics.
	Key        string
	Generation int64
	Mode       Mode
	Match      Match

	// IPHeader is the lower-cased header that carries the client IP.
	IPHeader    string
	OnMissingIP Action

	// Trusted and Blocked are the policy's networks (nil: none): the
	// inline CIDRs and the IP lists the policy names, merged by the
	// compiler. Blocked networks match the address judged and the address
	// as sent, trusted ones only the address judged (engine.evaluate).
	Trusted *NetSet
	Blocked *NetSet
	// BlockedListUnavailable is true when a blocked IP list the policy
	// names does not exist or has never loaded: every call with an address
	// is denied (CauseListUnavailable) until it loads, since the networks
	// it would block are unknown.
	BlockedListUnavailable bool

	UserRules []UserRule
	Velocity  []VelocityLimit
	History   *History
	// OnStoreFailure is what velocity limits and user history do when the
	// shared state fails: Allow, Deny or Shorten (to StoreFailureTo).
	OnStoreFailure Action
	StoreFailureTo int64
	Geo            *Geo
	ASN            *ASN
	Abuse          *Abuse
	AccessHours    *AccessHours
	Token          TokenChanges

	FailureReason string
	Descriptions  [numCauses]string
}

// Description returns the description for a cause with placeholders filled.
func (p *Policy) Description(c Cause, country string, score int) string {
	d := p.Descriptions[c]
	if d == "" {
		d = DefaultDescriptions[c]
	}
	if !strings.Contains(d, "{") {
		return d
	}
	if country == "" {
		country = "unknown"
	}
	s := "unknown"
	if score >= 0 {
		s = strconv.Itoa(score)
	}
	return strings.NewReplacer("{country}", country, "{score}", s).Replace(d)
}

// Match selects calls; an empty list matches everything. When, if not nil,
// are further conditions on who the token is for.
type Match struct {
	Tenants    []string
	ClientIDs  []string
	GrantTypes []string
	When       *Conditions
}

// Matches reports whether the call's tenant, client and grant type are
// selected; the caller checks When.
func (m *Match) Matches(tenant, clientID, grantType string) bool {
	return in(m.Tenants, tenant) && in(m.ClientIDs, clientID) && in(m.GrantTypes, grantType)
}

// Operator is how a claim or list condition compares.
type Operator uint8

// Operators (docs/policy-reference.md has their meaning for absent claims).
const (
	Exists Operator = iota
	DoesNotExist
	In
	NotIn
	ContainsAny
	ContainsAll
	ContainsNone
)

// ClaimCondition tests one claim of the access token.
type ClaimCondition struct {
	Name   string
	Op     Operator
	Values []string
}

// ListCondition tests a list, such as the requested scopes.
type ListCondition struct {
	Op     Operator
	Values []string
}

// Tristate is an optional boolean.
type Tristate uint8

// Tristate values.
const (
	Unset Tristate = iota
	True
	False
)

// Conditions are tests on who a token is for; all that are set must hold.
type Conditions struct {
	Aut               []string
	UserStores        []string
	Organizations     []string
	UserOrganizations []string
	SubOrganization   Tristate
	RequestedScopes   *ListCondition
	Claims            []ClaimCondition
}

// VelocityKey is what a velocity limit counts by.
type VelocityKey uint8

// Velocity keys.
const (
	ByClient VelocityKey = iota
	ByClientAddress
	ByUser
	ByUserAddress
)

// VelocityLimit denies or shortens past Limit calls in Window.
type VelocityLimit struct {
	Name      string
	By        VelocityKey
	Window    time.Duration
	Limit     int64
	Action    Action
	ExpiresIn int64
}

// SignalAction is what a signal does: Deny, Shorten (to ExpiresIn) or Flag.
type SignalAction struct {
	Action    Action
	ExpiresIn int64
}

// History judges a call by the user's earlier ones.
type History struct {
	Retention  time.Duration
	NewCountry *SignalAction
	Travel     *Travel
}

// Travel is the impossible-travel signal.
type Travel struct {
	SignalAction
	MaxSpeedKmh   float64
	MinDistanceKm float64
}

// UserRule denies or shortens calls its conditions select.
type UserRule struct {
	Name      string
	When      Conditions
	Action    Action
	ExpiresIn int64
}

func in(list []string, v string) bool {
	return len(list) == 0 || slices.Contains(list, v)
}

// Geo is a country rule.
type Geo struct {
	// Blocked lists denied countries; Allowed, when non-nil, the only allowed ones.
	Blocked   []string
	Allowed   []string
	OnUnknown Action
}

// ASN is an autonomous system rule.
type ASN struct {
	// Blocked lists denied ASNs; Allowed, when non-nil, the only allowed ones.
	Blocked   []uint32
	Allowed   []uint32
	OnUnknown Action
}

// Abuse is an AbuseIPDB rule. DenyAbove and ShortenAtLeast are -1 when unset.
type Abuse struct {
	APIKey         Secret
	MaxAgeInDays   int
	DenyAbove      int
	ShortenAtLeast int
	ShortenTo      int64
	CacheTTL       time.Duration
	OnFailure      Action
	FailureTo      int64
}

// AccessHours is an access-hour rule.
type AccessHours struct {
	Location      *time.Location
	Windows       []Window
	Outside       Action
	OutsideTo     int64
	OnlyWhenRisky bool
}

// Window is a daily window on some weekdays; minutes since midnight, end exclusive.
type Window struct {
	Days     uint8 // bit i set = time.Weekday(i); 0x7f is every day
	StartMin int
	EndMin   int
}

// Contains reports whether t (already in the rule's location) is inside the window.
func (w Window) Contains(t time.Time) bool {
	if w.Days&(1<<uint(t.Weekday())) == 0 {
		return false
	}
	m := t.Hour()*60 + t.Minute()
	return m >= w.StartMin && m < w.EndMin
}

// Inside reports whether t falls in any window.
func (h *AccessHours) Inside(t time.Time) bool {
	t = t.In(h.Location)
	for _, w := range h.Windows {
		if w.Contains(t) {
			return true
		}
	}
	return false
}

// Claim is a custom claim with its value already encoded as JSON.
type Claim struct {
	Name  string
	Value json.RawMessage
}

// TokenChanges are applied to every token a policy lets through.
type TokenChanges struct {
	MaxExpiresIn    int64 // 0: no cap
	AddScopes       []string
	RemoveScopes    []string
	AddAudiences    []string
	RemoveAudiences []string
	Claims          []Claim
	CountryClaim    string
	ASNClaim        string
	ScoreClaim      string
	RiskClaim       string

	RemoveClaims        []string
	ArrayClaims         []ArrayClaimChange
	MaxRefreshExpiresIn int64 // 0: no cap
	// WhenRisky applies in addition when a rule of the policy shortened the call.
	WhenRisky RiskyChanges
}

// ArrayClaimChange changes elements of one array claim by value.
type ArrayClaimChange struct {
	Name    string
	Remove  []string
	Replace []Replacement
}

// Replacement replaces an element value.
type Replacement struct {
	From, To string
}

// RiskyChanges are the changes made only to calls judged risky.
type RiskyChanges struct {
	MaxRefreshExpiresIn  int64
	WithholdRefreshToken bool
	WithholdIDToken      bool
}

// Snapshot is the immutable set of policies every call is decided against,
// ordered by Key, with an index of what each policy matches.
type Snapshot struct {
	Policies []*Policy
	// index is nil in a snapshot not made by NewSnapshot: Select then scans.
	index *matchIndex
}

// NewSnapshot orders the policies by key and returns a snapshot of them,
// indexed by tenant, client id and grant type.
func NewSnapshot(ps []*Policy) *Snapshot {
	out := slices.Clone(ps)
	slices.SortFunc(out, func(a, b *Policy) int { return strings.Compare(a.Key, b.Key) })
	return &Snapshot{Policies: out, index: newMatchIndex(out)}
}
