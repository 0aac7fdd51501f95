// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types and reasons reported on a TokenPolicy.
const (
	// ConditionReady is True when every replica can serve the policy as written.
	ConditionReady = "Ready"

	// ReasonCompiled: the policy compiled and is being served.
	ReasonCompiled = "Compiled"
	// ReasonInvalidSpec: the spec passed the API server's checks but cannot be
	// served (an unknown time zone, for example). The message says why.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonSecretNotFound: a referenced Secret or key does not exist.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonSecretInvalid: a referenced Secret key is empty or not usable.
	ReasonSecretInvalid = "SecretInvalid"
	// ReasonAbuseIPDBKeyRejected: AbuseIPDB refused the policy's API key (401
	// or 403) and lookups with it are paused; the policy's onFailure applies.
	ReasonAbuseIPDBKeyRejected = "AbuseIPDBKeyRejected"
	// ReasonListNotReady: a referenced IPList does not exist or has never
	// loaded. A missing blocked list denies every call the policy matches
	// that has an address (list_unavailable); a missing trusted list
	// trusts nothing. The message names the lists.
	ReasonListNotReady = "ListNotReady"
)

// PolicyMode says whether a policy changes outcomes or only records them.
// +kubebuilder:validation:Enum=Enforce;Audit
type PolicyMode string

const (
	// ModeEnforce applies the policy's decision to the token.
	ModeEnforce PolicyMode = "Enforce"
	// ModeAudit decides and records (logs, metrics) but lets the token through unchanged.
	ModeAudit PolicyMode = "Audit"
)

// GrantType is an OAuth2 grant type for which the platform runs the action.
// +kubebuilder:validation:Enum=authorization_code;client_credentials;password;refresh_token
type GrantType string

// Tenant is a tenant domain as the platform sends it in event.tenant.name.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=253
type Tenant string

// ClientID is an OAuth2 client id as the platform sends it in event.request.clientId.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=256
type ClientID string

// CountryCode is an ISO 3166-1 alpha-2 country code in upper case.
// +kubebuilder:validation:MaxLength=2
// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Z]{2}$')",message="must be an ISO 3166-1 alpha-2 country code in upper case, such as KP"
type CountryCode string

// ASNumber is an autonomous system number: 1 to 4294967295 (AS 0 marks
// unrouted space, RFC 7607, and is never an address's ASN).
// +kubebuilder:validation:Minimum=1
// +kubebuilder:validation:Maximum=4294967295
type ASNumber int64

// CIDR is an IPv4 or IPv6 network in CIDR notation.
// +kubebuilder:validation:MaxLength=43
// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="must be a network in CIDR notation, such as 203.0.113.0/24 or 2001:db8::/32"
type CIDR string

// Description is a text the platform shows to the token client. The platform
// accepts only letters, digits, spaces and _ . ! ? ; : ' ( ) [ ] - and at most
// 300 characters; anything else turns a denial into a server error. The
// placeholders {country} and {score} are replaced by the resolved country
// code and AbuseIPDB score.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=300
// +kubebuilder:validation:XValidation:rule=`self.matches('^([a-zA-Z0-9 _.!?;:\'()\\[\\]-]|\\{country\\}|\\{score\\})+$')`,message="may contain only letters, digits, spaces, the characters _ . ! ? ; : ' ( ) [ ] - and the placeholders {country} and {score}: the platform rejects commas, slashes, quotes and other characters"
type Description string

// ExpiresInSeconds is a token lifetime in seconds.
// +kubebuilder:validation:Minimum=1
// +kubebuilder:validation:Maximum=315360000
type ExpiresInSeconds int64

// Score is an AbuseIPDB abuse confidence score, 0 to 100.
// +kubebuilder:validation:Minimum=0
// +kubebuilder:validation:Maximum=100
type Score int32

// TokenPolicySpec declares which token requests a policy applies to, what
// makes them risky, and how the access token changes.
// +kubebuilder:validation:XValidation:rule="!has(self.accessHours) || !has(self.accessHours.onlyWhenRisky) || !self.accessHours.onlyWhenRisky || has(self.abuseIPDB)",message="accessHours.onlyWhenRisky needs abuseIPDB: only AbuseIPDB judges a call risky"
type TokenPolicySpec struct {
	// match selects the token requests the policy applies to. Every list that
	// is set must match; an empty match selects every call.
	// +optional
	Match *PolicyMatch `json:"match,omitempty"`

	// mode is Enforce (the default) or Audit. An Audit policy decides and
	// records its decision in logs and metrics but never changes the outcome.
	// +kubebuilder:default=Enforce
	// +optional
	Mode PolicyMode `json:"mode,omitempty"`

	// clientIP says where the client's IP address comes from and what to do
	// when it is missing or not an IP address.
	// +optional
	ClientIP *ClientIPSource `json:"clientIP,omitempty"`

	// networks lists trusted networks (the risk checks are skipped) and
	// blocked networks (denied).
	// +optional
	Networks *NetworkRules `json:"networks,omitempty"`

	// geo blocks or allows countries, resolved from the client IP with the
	// GeoIP databases the service was started with.
	// +optional
	Geo *GeoRules `json:"geo,omitempty"`

	// asn blocks or allows autonomous systems (the network an address is
	// routed to, such as a hosting provider's), resolved from the client IP
	// with the ASN databases the service was started with. Checked after
	// the countries, before AbuseIPDB.
	// +optional
	ASN *ASNRules `json:"asn,omitempty"`

	// abuseIPDB denies or shortens tokens by the client IP's AbuseIPDB abuse
	// confidence score.
	// +optional
	AbuseIPDB *AbuseIPDBRules `json:"abuseIPDB,omitempty"`

	// accessHours restricts token issuance to weekly windows in a time zone.
	// +optional
	AccessHours *AccessHours `json:"accessHours,omitempty"`

	// userRules deny or shorten tokens by who they are for. They need no
	// client address and are checked first, in order.
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=name
	// +optional
	UserRules []UserRule `json:"userRules,omitempty"`

	// velocity limits token issuances per client, client address, user or
	// user and address over a sliding window, counted across every replica
	// when TokenGuard shares state in Redis or Valkey.
	// +kubebuilder:validation:MaxItems=8
	// +listType=map
	// +listMapKey=name
	// +optional
	Velocity []VelocityLimit `json:"velocity,omitempty"`

	// userHistory judges a call against the user's earlier ones: a country
	// not seen before, or travel faster than possible.
	// +optional
	UserHistory *UserHistory `json:"userHistory,omitempty"`

	// onStoreFailure is what velocity limits and user history do when the
	// shared state cannot be read or written in time.
	// +optional
	OnStoreFailure *DependencyFailure `json:"onStoreFailure,omitempty"`

	// token lists the changes made to every access token the policy lets through.
	// +optional
	Token *TokenChanges `json:"token,omitempty"`

	// denial sets the failure reason and descriptions the token client sees
	// when this policy denies a token.
	// +optional
	Denial *Denial `json:"denial,omitempty"`
}

// PolicyMatch selects token requests by tenant, client and grant type, and by
// conditions on who the token is for.
type PolicyMatch struct {
	// tenants are tenant domains (event.tenant.name). Empty matches every tenant.
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	// +optional
	Tenants []Tenant `json:"tenants,omitempty"`

	// clientIDs are OAuth2 client ids (event.request.clientId). Empty matches every client.
	// +kubebuilder:validation:MaxItems=256
	// +listType=set
	// +optional
	ClientIDs []ClientID `json:"clientIDs,omitempty"`

	// grantTypes are OAuth2 grant types (event.request.grantType). Empty matches every grant type.
	// +kubebuilder:validation:MaxItems=4
	// +listType=set
	// +optional
	GrantTypes []GrantType `json:"grantTypes,omitempty"`

	// Conditions on who the token is for: every one that is set must hold.
	Conditions `json:",inline"`
}

// MissingIPAction is what to do when the client IP is missing or invalid.
// +kubebuilder:validation:Enum=Deny;Allow
type MissingIPAction string

// Actions for a missing client IP and an unknown country.
const (
	ActionDeny  = "Deny"
	ActionAllow = "Allow"
	// ActionShorten lets the token through with a shorter lifetime.
	ActionShorten = "Shorten"
)

// ClientIPSource says which forwarded header carries the client IP.
type ClientIPSource struct {
	// header is the name of the request header, as forwarded by the platform
	// in event.request.additionalHeaders, that carries the client IP. Matched
	// without regard to case. The platform forwards only headers allowed in
	// the action's configuration. Defaults to x-client-source-ip.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9.-]*$`
	// +kubebuilder:default=x-client-source-ip
	// +optional
	Header string `json:"header,omitempty"`

	// onMissing is Deny (the default) or Allow: what to do when the header is
	// missing or its value is not an IP address. Allow skips the checks that
	// need an address (networks, geo, asn, AbuseIPDB); user rules, access hours
	// and the token changes still apply.
	// +kubebuilder:default=Deny
	// +optional
	OnMissing MissingIPAction `json:"onMissing,omitempty"`
}

// NetworkRules lists trusted and blocked networks, written inline or kept
// in IPLists.
type NetworkRules struct {
	// trustedCIDRs are networks whose calls skip the geo, asn, AbuseIPDB and
	// access-hour checks (token changes still apply). A blocked network wins
	// over a trusted one.
	// +kubebuilder:validation:MaxItems=256
	// +listType=set
	// +optional
	TrustedCIDRs []CIDR `json:"trustedCIDRs,omitempty"`

	// blockedCIDRs are networks whose calls are denied.
	// +kubebuilder:validation:MaxItems=256
	// +listType=set
	// +optional
	BlockedCIDRs []CIDR `json:"blockedCIDRs,omitempty"`

	// trustedLists name IPLists in the policy's namespace whose networks
	// are trusted like trustedCIDRs. A list that does not exist or has
	// never loaded trusts nothing (Ready=False, ListNotReady).
	// +kubebuilder:validation:MaxItems=16
	// +listType=set
	// +optional
	TrustedLists []IPListName `json:"trustedLists,omitempty"`

	// blockedLists name IPLists in the policy's namespace whose networks
	// are denied like blockedCIDRs. While a list does not exist or has
	// never loaded, every call the policy matches that has an address is
	// denied (cause list_unavailable; Ready=False, ListNotReady): a block
	// list that cannot be read must not let its networks through.
	// +kubebuilder:validation:MaxItems=16
	// +listType=set
	// +optional
	BlockedLists []IPListName `json:"blockedLists,omitempty"`
}

// UnknownCountryAction is what to do when the client IP's country is unknown.
// +kubebuilder:validation:Enum=Deny;Allow
type UnknownCountryAction string

// GeoRules blocks or allows countries.
// +kubebuilder:validation:XValidation:rule="!(has(self.blockedCountries) && has(self.allowedCountries))",message="set blockedCountries or allowedCountries, not both"
type GeoRules struct {
	// blockedCountries are denied.
	// +kubebuilder:validation:MaxItems=250
	// +listType=set
	// +optional
	BlockedCountries []CountryCode `json:"blockedCountries,omitempty"`

	// allowedCountries, when set, are the only countries not denied.
	// +kubebuilder:validation:MaxItems=250
	// +listType=set
	// +optional
	AllowedCountries []CountryCode `json:"allowedCountries,omitempty"`

	// onUnknownCountry is what to do when no GeoIP database knows the
	// address. Defaults to Deny when allowedCountries is set, Allow otherwise.
	// +optional
	OnUnknownCountry UnknownCountryAction `json:"onUnknownCountry,omitempty"`
}

// UnknownASNAction is what to do when the client IP's autonomous system is unknown.
// +kubebuilder:validation:Enum=Deny;Allow
type UnknownASNAction string

// ASNRules blocks or allows autonomous systems.
// +kubebuilder:validation:XValidation:rule="!(has(self.blockedASNs) && has(self.allowedASNs))",message="set blockedASNs or allowedASNs, not both"
type ASNRules struct {
	// blockedASNs are denied.
	// +kubebuilder:validation:MaxItems=1000
	// +listType=set
	// +optional
	BlockedASNs []ASNumber `json:"blockedASNs,omitempty"`

	// allowedASNs, when set, are the only autonomous systems not denied.
	// +kubebuilder:validation:MaxItems=1000
	// +listType=set
	// +optional
	AllowedASNs []ASNumber `json:"allowedASNs,omitempty"`

	// onUnknownASN is what to do when no ASN database knows the address.
	// Defaults to Deny when allowedASNs is set, Allow otherwise.
	// +optional
	OnUnknownASN UnknownASNAction `json:"onUnknownASN,omitempty"`
}

// SecretKeyRef names a key in a Secret in the policy's namespace.
type SecretKeyRef struct {
	// name is the Secret's name, in the TokenPolicy's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// key is the key within the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +required
	Key string `json:"key"`
}

// FailureAction is what to do when a dependency fails.
// +kubebuilder:validation:Enum=Deny;Allow;Shorten
type FailureAction string

// AbuseIPDBRules judges the client IP by its AbuseIPDB score.
// +kubebuilder:validation:XValidation:rule="!has(self.deny) || !has(self.shorten) || self.shorten.scoreAtLeast <= self.deny.scoreAbove",message="shorten.scoreAtLeast must not be above deny.scoreAbove: scores that shorten lie below those that deny"
type AbuseIPDBRules struct {
	// apiKeySecretRef names the Secret key that holds the AbuseIPDB API key.
	// +required
	APIKeySecretRef SecretKeyRef `json:"apiKeySecretRef"`

	// maxAgeInDays is how far back AbuseIPDB counts reports, 1 to 365.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=365
	// +kubebuilder:default=30
	// +optional
	MaxAgeInDays int32 `json:"maxAgeInDays,omitempty"`

	// deny denies tokens for addresses scoring above a threshold.
	// +optional
	Deny *ScoreDeny `json:"deny,omitempty"`

	// shorten shortens tokens for addresses scoring at or above a threshold
	// (and not denied). Such calls count as risky for accessHours.onlyWhenRisky.
	// +optional
	Shorten *ScoreShorten `json:"shorten,omitempty"`

	// cacheTTLSeconds is how long a score is reused before AbuseIPDB is asked
	// again. The free plan allows 1,000 checks a day. Defaults to 3600.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=604800
	// +kubebuilder:default=3600
	// +optional
	CacheTTLSeconds int32 `json:"cacheTTLSeconds,omitempty"`

	// onFailure is what to do when AbuseIPDB fails, times out, rejects the key
	// or is over quota.
	// +optional
	OnFailure *DependencyFailure `json:"onFailure,omitempty"`
}

// ScoreDeny denies tokens above a score.
type ScoreDeny struct {
	// scoreAbove: a score strictly above it is denied.
	// +required
	ScoreAbove Score `json:"scoreAbove"`
}

// ScoreShorten shortens tokens at or above a score.
type ScoreShorten struct {
	// scoreAtLeast: a score at or above it (and not denied) shortens the token.
	// +required
	ScoreAtLeast Score `json:"scoreAtLeast"`

	// expiresInSeconds is the shortened access token lifetime.
	// +required
	ExpiresInSeconds ExpiresInSeconds `json:"expiresInSeconds"`
}

// DependencyFailure says what to do when a dependency cannot answer.
// +kubebuilder:validation:XValidation:rule="self.action != 'Shorten' || has(self.expiresInSeconds)",message="expiresInSeconds is required when action is Shorten"
// +kubebuilder:validation:XValidation:rule="self.action == 'Shorten' || !has(self.expiresInSeconds)",message="expiresInSeconds is only used when action is Shorten"
type DependencyFailure struct {
	// action is Deny (the default), Allow, or Shorten. Shorten counts the call as risky.
	// +kubebuilder:default=Deny
	// +optional
	Action FailureAction `json:"action,omitempty"`

	// expiresInSeconds is the lifetime when action is Shorten.
	// +optional
	ExpiresInSeconds *ExpiresInSeconds `json:"expiresInSeconds,omitempty"`
}

// Weekday is a day of the week.
// +kubebuilder:validation:Enum=Monday;Tuesday;Wednesday;Thursday;Friday;Saturday;Sunday
type Weekday string

// ClockTime is a time of day as HH:MM, 00:00 to 24:00.
// +kubebuilder:validation:MaxLength=5
// +kubebuilder:validation:XValidation:rule="self.matches('^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$')",message="must be a time of day as HH:MM, from 00:00 to 24:00"
type ClockTime string

// TimeWindow is a daily window on some days of the week.
// +kubebuilder:validation:XValidation:rule="self.start < self.end",message="start must be before end; split a window that crosses midnight in two"
type TimeWindow struct {
	// days are the days the window applies to. Empty means every day.
	// +kubebuilder:validation:MaxItems=7
	// +listType=set
	// +optional
	Days []Weekday `json:"days,omitempty"`

	// start is the first minute of the window, inclusive.
	// +required
	Start ClockTime `json:"start"`

	// end is the end of the window, exclusive.
	// +required
	End ClockTime `json:"end"`
}

// OutsideHoursAction is what to do outside the access hours.
// +kubebuilder:validation:Enum=Deny;Shorten
type OutsideHoursAction string

// OutsideHours says what happens to calls outside the access hours.
// +kubebuilder:validation:XValidation:rule="self.action != 'Shorten' || has(self.expiresInSeconds)",message="expiresInSeconds is required when action is Shorten"
// +kubebuilder:validation:XValidation:rule="self.action == 'Shorten' || !has(self.expiresInSeconds)",message="expiresInSeconds is only used when action is Shorten"
type OutsideHours struct {
	// action is Deny or Shorten.
	// +required
	Action OutsideHoursAction `json:"action"`

	// expiresInSeconds is the lifetime when action is Shorten.
	// +optional
	ExpiresInSeconds *ExpiresInSeconds `json:"expiresInSeconds,omitempty"`
}

// AccessHours restricts token issuance to weekly windows.
type AccessHours struct {
	// timeZone is an IANA time zone name such as UTC or Europe/Berlin.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:default=UTC
	// +optional
	TimeZone string `json:"timeZone,omitempty"`

	// windows are the weekly windows inside which tokens are issued as usual.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +required
	Windows []TimeWindow `json:"windows"`

	// outside says what happens outside every window.
	// +required
	Outside OutsideHours `json:"outside"`

	// onlyWhenRisky limits the access-hour rule to calls AbuseIPDB judged
	// risky (a score in the shorten band, or a failure handled by Shorten).
	// +optional
	OnlyWhenRisky bool `json:"onlyWhenRisky,omitempty"`
}

// Scope is an OAuth2 scope token (RFC 6749 NQCHAR: no spaces, quotes or backslashes).
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=256
// +kubebuilder:validation:XValidation:rule="self.matches('^[!#-\\\\[\\\\]-~]+$')",message="must be a scope token: printable ASCII without spaces, double quotes or backslashes"
type Scope string

// Audience is an audience value. The platform adds only URIs (scheme://...)
// or names made of letters, digits, dots and hyphens.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=512
// +kubebuilder:validation:XValidation:rule="self.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^\\\\s/$.?#][^\\\\s]*$') || self.matches('^[a-zA-Z0-9.-]+$')",message="must be a URI such as https://api.example.com or a name of letters, digits, dots and hyphens: the platform drops other audiences"
type Audience string

// ClaimName is the name of a custom access token claim.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=128
// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.:#-]+$`
// +kubebuilder:validation:XValidation:rule="!(self.lowerAscii() in ['iss', 'sub', 'aud', 'client_id', 'aut', 'expires_in', 'scope', 'binding_ref', 'binding_type', 'subject_type', 'exp', 'iat', 'nbf', 'jti'])",message="is a standard claim the platform manages; choose another name"
type ClaimName string

// ScopeChanges adds and removes scopes.
type ScopeChanges struct {
	// add are scopes added to the token when it does not have them.
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	// +optional
	Add []Scope `json:"add,omitempty"`

	// remove are scopes removed from the token when it has them. A scope that
	// one policy adds and another removes is removed.
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	// +optional
	Remove []Scope `json:"remove,omitempty"`
}

// AudienceChanges adds and removes audiences.
type AudienceChanges struct {
	// add are audiences added to the token's aud claim.
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	// +optional
	Add []Audience `json:"add,omitempty"`

	// remove are audiences removed from the token's aud claim.
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	// +optional
	Remove []string `json:"remove,omitempty"`
}

// Claim is a custom claim set on the access token. Exactly one value field is set.
// +kubebuilder:validation:XValidation:rule="[has(self.string), has(self.number), has(self.boolean), has(self.strings)].filter(x, x).size() == 1",message="set exactly one of string, number, boolean or strings"
type Claim struct {
	// name is the claim name.
	// +required
	Name ClaimName `json:"name"`

	// string is a string value.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	String *string `json:"string,omitempty"`

	// number is a decimal number, such as 42 or 0.5, sent as a JSON number.
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^-?[0-9]+([.][0-9]+)?$')",message="must be a decimal number such as 42 or -0.5"
	// +optional
	Number *string `json:"number,omitempty"`

	// boolean is a true or false value.
	// +optional
	Boolean *bool `json:"boolean,omitempty"`

	// strings is an array of strings.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=1024
	// +listType=atomic
	// +optional
	Strings []string `json:"strings,omitempty"`
}

// DecisionClaims names claims that record the decision in the token.
// +kubebuilder:validation:XValidation:rule="!(has(self.country) && has(self.asn) && self.country == self.asn) && !(has(self.country) && has(self.abuseScore) && self.country == self.abuseScore) && !(has(self.country) && has(self.riskReasons) && self.country == self.riskReasons) && !(has(self.asn) && has(self.abuseScore) && self.asn == self.abuseScore) && !(has(self.asn) && has(self.riskReasons) && self.asn == self.riskReasons) && !(has(self.abuseScore) && has(self.riskReasons) && self.abuseScore == self.riskReasons)",message="each decision claim needs its own name"
type DecisionClaims struct {
	// country is the name of a claim set to the resolved country code.
	// +optional
	Country ClaimName `json:"country,omitempty"`

	// asn is the name of a claim set to the client IP's autonomous system
	// number, a JSON number such as 15169. Not set when no ASN database
	// knows the address.
	// +optional
	ASN ClaimName `json:"asn,omitempty"`

	// abuseScore is the name of a claim set to the AbuseIPDB score.
	// +optional
	AbuseScore ClaimName `json:"abuseScore,omitempty"`

	// riskReasons is the name of an array claim listing the signals that
	// judged the call risky (high_risk, reputation_unavailable,
	// outside_access_hours, user_rule, velocity, new_country,
	// impossible_travel, state_unavailable), so APIs can ask for step-up.
	// Not set when none fired.
	// +optional
	RiskReasons ClaimName `json:"riskReasons,omitempty"`
}

// TokenChanges are changes made to every token the policy lets through.
// +kubebuilder:validation:XValidation:rule="!has(self.claims) || self.claims.all(c, self.claims.exists_one(d, d.name == c.name))",message="claim names must be unique"
// +kubebuilder:validation:XValidation:rule="!has(self.claims) || !has(self.removeClaims) || !self.claims.exists(c, c.name in self.removeClaims)",message="a claim cannot be both set and removed"
// +kubebuilder:validation:XValidation:rule="!has(self.claims) || !has(self.decisionClaims) || !self.claims.exists(c, (has(self.decisionClaims.country) && c.name == self.decisionClaims.country) || (has(self.decisionClaims.asn) && c.name == self.decisionClaims.asn) || (has(self.decisionClaims.abuseScore) && c.name == self.decisionClaims.abuseScore) || (has(self.decisionClaims.riskReasons) && c.name == self.decisionClaims.riskReasons))",message="a decision claim cannot also be set in claims"
type TokenChanges struct {
	// maxExpiresInSeconds caps the access token lifetime. A token is never
	// lengthened.
	// +optional
	MaxExpiresInSeconds *ExpiresInSeconds `json:"maxExpiresInSeconds,omitempty"`

	// scopes adds and removes scopes.
	// +optional
	Scopes *ScopeChanges `json:"scopes,omitempty"`

	// audiences adds and removes audiences.
	// +optional
	Audiences *AudienceChanges `json:"audiences,omitempty"`

	// claims are custom claims set on the token. A claim the token already
	// has (the refresh flow re-sends earlier claims) is replaced.
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	Claims []Claim `json:"claims,omitempty"`

	// decisionClaims stamps the decision's inputs into the token.
	// +optional
	DecisionClaims *DecisionClaims `json:"decisionClaims,omitempty"`

	// removeClaims are claims removed from the token when it has them, such
	// as user attributes an API should not see. The platform cannot remove an
	// array claim itself: every element of it is removed. A claim that one
	// policy sets and another removes is removed.
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	// +optional
	RemoveClaims []ClaimName `json:"removeClaims,omitempty"`

	// arrayClaims change elements of array claims (such as groups) by value.
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	// +optional
	ArrayClaims []ArrayClaimChanges `json:"arrayClaims,omitempty"`

	// maxRefreshExpiresInSeconds caps the refresh token's lifetime. A refresh
	// token is never lengthened.
	// +optional
	MaxRefreshExpiresInSeconds *ExpiresInSeconds `json:"maxRefreshExpiresInSeconds,omitempty"`

	// whenRisky are further changes for calls a rule of this policy shortened
	// (an AbuseIPDB score in the shorten band, a failure handled by Shorten,
	// outside access hours with Shorten, a user rule that shortens).
	// +optional
	WhenRisky *RiskyTokenChanges `json:"whenRisky,omitempty"`
}

// FailureReason is the OAuth2 error code the token client sees on denial.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=100
// +kubebuilder:validation:XValidation:rule=`self.matches('^[a-zA-Z0-9 _.!?;:\'()\\[\\]-]+$')`,message="may contain only letters, digits, spaces and the characters _ . ! ? ; : ' ( ) [ ] -"
// +kubebuilder:validation:XValidation:rule="!(self.lowerAscii() in ['server_error', 'internal_server_error', '500'])",message="server_error, internal_server_error and 500 are refused by the platform"
type FailureReason string

// Denial sets what the token client sees when the policy denies.
type Denial struct {
	// failureReason is the OAuth2 error code. Defaults to access_denied.
	// +kubebuilder:default=access_denied
	// +optional
	FailureReason FailureReason `json:"failureReason,omitempty"`

	// descriptions override the error descriptions by cause.
	// +optional
	Descriptions *DenialDescriptions `json:"descriptions,omitempty"`
}

// DenialDescriptions are the error descriptions by cause of denial.
type DenialDescriptions struct {
	// missingClientIP is used when the client IP is missing or invalid.
	// +optional
	MissingClientIP Description `json:"missingClientIP,omitempty"`
	// blockedNetwork is used when the client IP is in a blocked network.
	// +optional
	BlockedNetwork Description `json:"blockedNetwork,omitempty"`
	// blockedCountry is used when the country is blocked or not allowed.
	// +optional
	BlockedCountry Description `json:"blockedCountry,omitempty"`
	// unknownCountry is used when the country is unknown and onUnknownCountry is Deny.
	// +optional
	UnknownCountry Description `json:"unknownCountry,omitempty"`
	// blockedASN is used when the autonomous system is blocked or not allowed.
	// +optional
	BlockedASN Description `json:"blockedASN,omitempty"`
	// unknownASN is used when the autonomous system is unknown and onUnknownASN is Deny.
	// +optional
	UnknownASN Description `json:"unknownASN,omitempty"`
	// highRisk is used when the AbuseIPDB score is above the deny threshold.
	// +optional
	HighRisk Description `json:"highRisk,omitempty"`
	// reputationUnavailable is used when AbuseIPDB fails and onFailure is Deny.
	// +optional
	ReputationUnavailable Description `json:"reputationUnavailable,omitempty"`
	// outsideAccessHours is used outside the access hours when outside.action is Deny.
	// +optional
	OutsideAccessHours Description `json:"outsideAccessHours,omitempty"`
	// userRule is used when a user rule denies.
	// +optional
	UserRule Description `json:"userRule,omitempty"`
	// velocity is used when a velocity limit denies.
	// +optional
	Velocity Description `json:"velocity,omitempty"`
	// newCountry is used when a token from a new country is denied.
	// +optional
	NewCountry Description `json:"newCountry,omitempty"`
	// impossibleTravel is used when impossible travel is denied.
	// +optional
	ImpossibleTravel Description `json:"impossibleTravel,omitempty"`
	// stateUnavailable is used when the shared state fails and onStoreFailure is Deny.
	// +optional
	StateUnavailable Description `json:"stateUnavailable,omitempty"`
	// listUnavailable is used when a blocked IPList does not exist or has never loaded.
	// +optional
	ListUnavailable Description `json:"listUnavailable,omitempty"`
}

// TokenPolicyStatus reports whether the policy is served.
type TokenPolicyStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready is True when the policy compiled and is served.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// TokenPolicy is a rule set the TokenGuard action endpoint applies before the
// identity platform issues an access token.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=tp,categories=tokenguard
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TokenPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the policy.
	// +required
	Spec TokenPolicySpec `json:"spec"`

	// status is written by the controller.
	// +optional
	Status TokenPolicyStatus `json:"status,omitempty"`
}

// TokenPolicyList is a list of TokenPolicies.
// +kubebuilder:object:root=true
type TokenPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TokenPolicy `json:"items"`
}
