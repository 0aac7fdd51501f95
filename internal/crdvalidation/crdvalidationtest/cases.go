// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package crdvalidationtest is the one table of TokenPolicy and IPList spec
// rules: each invalid spec with the message the API server gives for it. The envtest
// suite (controllers, a real kube-apiserver) and the offline checks
// (internal/crdvalidation, standalone policy files) both run it, so the
// CRD's markers and the offline validator cannot drift apart. A new spec
// rule gets its case here; see docs/development.md.
package crdvalidationtest

import (
	"strconv"
	"strings"
)

// Case is one invalid spec, as YAML, and a substring of the API server's
// error for it. Write specs as a typed client sends them: a field set to
// its zero value (0, "", false) without a pointer is omitted by the client
// and so never reaches the API server. Quote YAML 1.1 words (y, n, on,
// off): policy files are read without the Go types, as kubectl reads them,
// and there they are booleans.
type Case struct {
	Name    string
	Spec    string
	Message string
}

// Valid is a spec with every field set; both the API server and the offline
// validator accept it.
const Valid = `
match: {tenants: [t], clientIDs: [c], grantTypes: [authorization_code], aut: [APPLICATION_USER], userStores: [PRIMARY], organizations: [acme],
  userOrganizations: [partner], subOrganization: true, requestedScopes: {operator: ContainsAny, values: [admin]},
  claims: [{name: groups, operator: ContainsAny, values: [contractors]}, {name: email, operator: Exists}]}
mode: Enforce
userRules: [{name: no-admin, when: {requestedScopes: {operator: ContainsAny, values: [admin]}}, action: Deny},
  {name: short, when: {claims: [{name: sub, operator: In, values: [x]}]}, action: Shorten, expiresInSeconds: 300}]
clientIP: {header: x-client-source-ip, onMissing: Allow}
velocity: [{name: per-user, by: User, windowSeconds: 60, limit: 10, action: Deny},
  {name: per-address, by: ClientAddress, windowSeconds: 3600, limit: 100, action: Shorten, expiresInSeconds: 300}]
userHistory: {retentionDays: 90, newCountry: {action: Flag}, impossibleTravel: {action: Deny, maxSpeedKmh: 900, minDistanceKm: 100}}
onStoreFailure: {action: Shorten, expiresInSeconds: 120}
networks: {trustedCIDRs: [10.0.0.0/8, "fd00::/8"], blockedCIDRs: [192.0.2.0/24], trustedLists: [office], blockedLists: [tor-exits, firehol.level1]}
geo: {blockedCountries: [KP], onUnknownCountry: Deny}
asn: {blockedASNs: [64496, 4294967295], onUnknownASN: Allow}
abuseIPDB: {apiKeySecretRef: {name: s, key: k}, maxAgeInDays: 90, cacheTTLSeconds: 600, deny: {scoreAbove: 75}, shorten: {scoreAtLeast: 25, expiresInSeconds: 900},
  onFailure: {action: Shorten, expiresInSeconds: 300}}
accessHours: {timeZone: Europe/Berlin, windows: [{days: [Monday], start: "00:00", end: "24:00"}], outside: {action: Shorten, expiresInSeconds: 60}, onlyWhenRisky: true}
token: {maxExpiresInSeconds: 3600, scopes: {add: ["read:x"], remove: [admin]}, audiences: {add: [https://api.example.com, api.example.com], remove: [x]},
  claims: [{name: a, string: s}, {name: b, number: "-1.5"}, {name: c, boolean: false}, {name: d, strings: [x]}],
  decisionClaims: {country: geo, asn: as_number, abuseScore: risk, riskReasons: risk_reasons},
  removeClaims: [department], arrayClaims: [{name: groups, remove: [admin], replace: [{from: staff, to: guest}]}], maxRefreshExpiresInSeconds: 86400,
  whenRisky: {maxRefreshExpiresInSeconds: 3600, withholdRefreshToken: true, withholdIDToken: true}}
denial: {failureReason: access_denied, descriptions: {missingClientIP: No address., blockedNetwork: Blocked network., blockedCountry: "Blocked from ({country}) with score {score}: sorry!",
  unknownCountry: Unknown country., blockedASN: Blocked provider., unknownASN: Unknown provider., highRisk: "Risky [{score}].", reputationUnavailable: Try again later., outsideAccessHours: Office hours only., userRule: Not for you.,
  velocity: Slow down., newCountry: "New country ({country}).", impossibleTravel: Too far., stateUnavailable: Try again.,
  listUnavailable: Try again later.}}
`

const key = `apiKeySecretRef: {name: s, key: k}`

// Cases are the invalid specs.
var Cases = []Case{
	// mode, match, clientIP
	{"mode", `mode: Sometimes`,
		`spec.mode: Unsupported value: "Sometimes": supported values: "Enforce", "Audit"`},
	{"grant type", `match: {grantTypes: [implicit]}`,
		`spec.match.grantTypes[0]: Unsupported value: "implicit": supported values: "authorization_code", "client_credentials", "password", "refresh_token"`},
	{"tenant listed twice", `match: {tenants: [a, a]}`,
		`spec.match.tenants[1]: Duplicate value: "a"`},
	{"header", `clientIP: {header: "x y"}`,
		`spec.clientIP.header: Invalid value: "x y": spec.clientIP.header in body should match '^[A-Za-z0-9][A-Za-z0-9.-]*$'`},
	{"on missing", `clientIP: {onMissing: Shorten}`,
		`spec.clientIP.onMissing: Unsupported value: "Shorten": supported values: "Deny", "Allow"`},

	{"aut", `match: {aut: [USER]}`,
		`spec.match.aut[0]: Unsupported value: "USER": supported values: "APPLICATION", "APPLICATION_USER"`},
	{"claim operator", `match: {claims: [{name: groups, operator: Has, values: [a]}]}`,
		`spec.match.claims[0].operator: Unsupported value: "Has": supported values: "Exists", "DoesNotExist", "In", "NotIn", "ContainsAny", "ContainsAll", "ContainsNone"`},
	{"Exists with values", `match: {claims: [{name: groups, operator: Exists, values: [a]}]}`,
		`spec.match.claims[0]: Invalid value: Exists and DoesNotExist take no values; the other operators need at least one`},
	{"In without values", `match: {claims: [{name: groups, operator: In}]}`,
		`spec.match.claims[0]: Invalid value: Exists and DoesNotExist take no values; the other operators need at least one`},
	{"requested scopes operator", `match: {requestedScopes: {operator: In, values: [a]}}`,
		`spec.match.requestedScopes.operator: Unsupported value: "In": supported values: "ContainsAny", "ContainsAll", "ContainsNone"`},

	// userRules
	{"user rule without conditions", `userRules: [{name: r, when: {}, action: Deny}]`,
		`spec.userRules[0]: Invalid value: when needs at least one condition`},
	{"user rule Shorten without lifetime", `userRules: [{name: r, when: {subOrganization: true}, action: Shorten}]`,
		`spec.userRules[0]: Invalid value: expiresInSeconds is required when action is Shorten`},
	{"user rule name", `userRules: [{name: No_Admin, when: {subOrganization: true}, action: Deny}]`,
		`spec.userRules[0].name: Invalid value: "No_Admin": spec.userRules[0].name in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'`},
	{"user rule names", `userRules: [{name: r, when: {subOrganization: true}, action: Deny}, {name: r, when: {aut: [APPLICATION]}, action: Deny}]`,
		`spec.userRules[1]: Duplicate value: {"name":"r"}`},

	// networks, geo
	{"CIDR", `networks: {blockedCIDRs: [10.0.0.300/8]}`,
		`spec.networks.blockedCIDRs[0]: Invalid value: "10.0.0.300/8": must be a network in CIDR notation, such as 203.0.113.0/24 or 2001:db8::/32`},
	{"CIDR prefix length", `networks: {trustedCIDRs: [10.0.0.0/33]}`,
		`spec.networks.trustedCIDRs[0]: Invalid value: "10.0.0.0/33": must be a network in CIDR notation`},
	{"list name", `networks: {blockedLists: [Tor_Exits]}`,
		`spec.networks.blockedLists[0]: Invalid value: "Tor_Exits": spec.networks.blockedLists[0] in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'`},
	{"list named twice", `networks: {trustedLists: [office, office]}`,
		`spec.networks.trustedLists[1]: Duplicate value: "office"`},
	{"too many lists", `networks: {blockedLists: [a, b, c, d, e, f, g, h, i, j, k, l, m, "n", o, p, q]}`,
		`spec.networks.blockedLists: Too many: 17: must have at most 16 items`},
	{"country code", `geo: {blockedCountries: [kp]}`,
		`spec.geo.blockedCountries[0]: Invalid value: "kp": must be an ISO 3166-1 alpha-2 country code in upper case, such as KP`},
	{"country code too long", `geo: {allowedCountries: [XXX]}`,
		`spec.geo.allowedCountries[0]: Too long: may not be more than 2 bytes`},
	{"both country lists", `geo: {blockedCountries: [KP], allowedCountries: [LK]}`,
		`spec.geo: Invalid value: set blockedCountries or allowedCountries, not both`},
	{"unknown country action", `geo: {onUnknownCountry: Shorten}`,
		`spec.geo.onUnknownCountry: Unsupported value: "Shorten": supported values: "Deny", "Allow"`},

	// asn
	{"both ASN lists", `asn: {blockedASNs: [64496], allowedASNs: [64497]}`,
		`spec.asn: Invalid value: set blockedASNs or allowedASNs, not both`},
	{"AS 0", `asn: {blockedASNs: [0]}`,
		`spec.asn.blockedASNs[0]: Invalid value: 0: spec.asn.blockedASNs[0] in body should be greater than or equal to 1`},
	{"ASN above 32 bits", `asn: {allowedASNs: [4294967296]}`,
		`spec.asn.allowedASNs[0]: Invalid value: 4294967296: spec.asn.allowedASNs[0] in body should be less than or equal to 4294967295`},
	{"negative ASN", `asn: {blockedASNs: [-15169]}`,
		`spec.asn.blockedASNs[0]: Invalid value: -15169: spec.asn.blockedASNs[0] in body should be greater than or equal to 1`},
	{"ASN listed twice", `asn: {blockedASNs: [64496, 64496]}`,
		`spec.asn.blockedASNs[1]: Duplicate value: 64496`},
	{"too many ASNs", `asn: {blockedASNs: [` + numbers(1, 1001) + `]}`,
		`spec.asn.blockedASNs: Too many: 1001: must have at most 1000 items`},
	{"unknown ASN action", `asn: {onUnknownASN: Shorten}`,
		`spec.asn.onUnknownASN: Unsupported value: "Shorten": supported values: "Deny", "Allow"`},

	// abuseIPDB
	{"secret key name", `abuseIPDB: {apiKeySecretRef: {name: s, key: "a/b"}}`,
		`spec.abuseIPDB.apiKeySecretRef.key: Invalid value: "a/b": spec.abuseIPDB.apiKeySecretRef.key in body should match '^[-._a-zA-Z0-9]+$'`},
	{"empty secret name", `abuseIPDB: {apiKeySecretRef: {name: "", key: k}}`,
		`spec.abuseIPDB.apiKeySecretRef.name: Invalid value: "": spec.abuseIPDB.apiKeySecretRef.name in body should be at least 1 chars long`},
	{"max age", `abuseIPDB: {` + key + `, maxAgeInDays: 366}`,
		`spec.abuseIPDB.maxAgeInDays: Invalid value: 366: spec.abuseIPDB.maxAgeInDays in body should be less than or equal to 365`},
	{"cache TTL", `abuseIPDB: {` + key + `, cacheTTLSeconds: 604801}`,
		`spec.abuseIPDB.cacheTTLSeconds: Invalid value: 604801: spec.abuseIPDB.cacheTTLSeconds in body should be less than or equal to 604800`},
	{"score above 100", `abuseIPDB: {` + key + `, deny: {scoreAbove: 101}}`,
		`spec.abuseIPDB.deny.scoreAbove: Invalid value: 101: spec.abuseIPDB.deny.scoreAbove in body should be less than or equal to 100`},
	{"shorten above deny", `abuseIPDB: {` + key + `, deny: {scoreAbove: 50}, shorten: {scoreAtLeast: 60, expiresInSeconds: 60}}`,
		`spec.abuseIPDB: Invalid value: shorten.scoreAtLeast must not be above deny.scoreAbove: scores that shorten lie below those that deny`},
	{"failure Shorten without lifetime", `abuseIPDB: {` + key + `, onFailure: {action: Shorten}}`,
		`spec.abuseIPDB.onFailure: Invalid value: expiresInSeconds is required when action is Shorten`},
	{"failure Deny with lifetime", `abuseIPDB: {` + key + `, onFailure: {action: Deny, expiresInSeconds: 60}}`,
		`spec.abuseIPDB.onFailure: Invalid value: expiresInSeconds is only used when action is Shorten`},

	// accessHours
	{"clock time", `accessHours: {windows: [{start: "9:00", end: "17:00"}], outside: {action: Deny}}`,
		`spec.accessHours.windows[0].start: Invalid value: "9:00": must be a time of day as HH:MM, from 00:00 to 24:00`},
	{"window across midnight", `accessHours: {windows: [{start: "22:00", end: "06:00"}], outside: {action: Deny}}`,
		`spec.accessHours.windows[0]: Invalid value: start must be before end; split a window that crosses midnight in two`},
	{"weekday", `accessHours: {windows: [{days: [Caturday], start: "09:00", end: "17:00"}], outside: {action: Deny}}`,
		`spec.accessHours.windows[0].days[0]: Unsupported value: "Caturday": supported values: "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"`},
	{"no window", `accessHours: {windows: [], outside: {action: Deny}}`,
		`spec.accessHours.windows: Invalid value: 0: spec.accessHours.windows in body should have at least 1 items`},
	{"outside Shorten without lifetime", `accessHours: {windows: [{start: "09:00", end: "17:00"}], outside: {action: Shorten}}`,
		`spec.accessHours.outside: Invalid value: expiresInSeconds is required when action is Shorten`},
	{"outside Allow", `accessHours: {windows: [{start: "09:00", end: "17:00"}], outside: {action: Allow}}`,
		`spec.accessHours.outside.action: Unsupported value: "Allow": supported values: "Deny", "Shorten"`},
	{"only when risky without AbuseIPDB", `accessHours: {windows: [{start: "09:00", end: "17:00"}], outside: {action: Deny}, onlyWhenRisky: true}`,
		`spec: Invalid value: accessHours.onlyWhenRisky needs abuseIPDB: only AbuseIPDB judges a call risky`},

	// token
	{"lifetime below 1 s", `token: {maxExpiresInSeconds: 0}`,
		`spec.token.maxExpiresInSeconds: Invalid value: 0: spec.token.maxExpiresInSeconds in body should be greater than or equal to 1`},
	{"reserved claim", `token: {claims: [{name: Aud, string: x}]}`,
		`spec.token.claims[0].name: Invalid value: "Aud": is a standard claim the platform manages; choose another name`},
	{"reserved decision claim", `token: {decisionClaims: {country: sub}}`,
		`spec.token.decisionClaims.country: Invalid value: "sub": is a standard claim the platform manages; choose another name`},
	{"claim name", `token: {claims: [{name: "a b", string: x}]}`,
		`spec.token.claims[0].name: Invalid value: "a b": spec.token.claims[0].name in body should match '^[A-Za-z0-9_.:#-]+$'`},
	{"two claim values", `token: {claims: [{name: tier, string: x, boolean: true}]}`,
		`spec.token.claims[0]: Invalid value: set exactly one of string, number, boolean or strings`},
	{"no claim value", `token: {claims: [{name: tier}]}`,
		`spec.token.claims[0]: Invalid value: set exactly one of string, number, boolean or strings`},
	{"duplicate claims", `token: {claims: [{name: tier, string: x}, {name: tier, string: z}]}`,
		`spec.token: Invalid value: claim names must be unique`},
	{"number claim", `token: {claims: [{name: n1, number: "1e3"}]}`,
		`spec.token.claims[0].number: Invalid value: "1e3": must be a decimal number such as 42 or -0.5`},
	{"scope with a space", `token: {scopes: {add: ["read write"]}}`,
		`spec.token.scopes.add[0]: Invalid value: "read write": must be a scope token: printable ASCII without spaces, double quotes or backslashes`},
	{"URN audience", `token: {audiences: {add: ["urn:example:api"]}}`,
		`spec.token.audiences.add[0]: Invalid value: "urn:example:api": must be a URI such as https://api.example.com or a name of letters, digits, dots and hyphens: the platform drops other audiences`},

	// velocity, userHistory, onStoreFailure
	{"velocity Shorten without lifetime", `velocity: [{name: v, by: User, windowSeconds: 60, limit: 3, action: Shorten}]`,
		`spec.velocity[0]: Invalid value: expiresInSeconds is required when action is Shorten`},
	{"velocity key", `velocity: [{name: v, by: Tenant, windowSeconds: 60, limit: 3, action: Deny}]`,
		`spec.velocity[0].by: Unsupported value: "Tenant": supported values: "Client", "ClientAddress", "User", "UserAddress"`},
	{"velocity window", `velocity: [{name: v, by: User, windowSeconds: 0, limit: 3, action: Deny}]`,
		`spec.velocity[0].windowSeconds: Invalid value: 0: spec.velocity[0].windowSeconds in body should be greater than or equal to 1`},
	{"velocity names", `velocity: [{name: v, by: User, windowSeconds: 1, limit: 3, action: Deny}, {name: v, by: Client, windowSeconds: 1, limit: 3, action: Deny}]`,
		`spec.velocity[1]: Duplicate value: {"name":"v"}`},
	{"history without a signal", `userHistory: {retentionDays: 30}`,
		`spec.userHistory: Invalid value: set newCountry, impossibleTravel or both`},
	{"Flag with a lifetime", `userHistory: {newCountry: {action: Flag, expiresInSeconds: 60}}`,
		`spec.userHistory.newCountry: Invalid value: expiresInSeconds is only used when action is Shorten`},
	{"store failure Shorten without lifetime", `onStoreFailure: {action: Shorten}`,
		`spec.onStoreFailure: Invalid value: expiresInSeconds is required when action is Shorten`},
	{"claim set and removed", `token: {claims: [{name: tier, string: x}], removeClaims: [tier]}`,
		`spec.token: Invalid value: a claim cannot be both set and removed`},
	{"decision claim also set", `token: {claims: [{name: x, string: a}], decisionClaims: {country: x}}`,
		`spec.token: Invalid value: a decision claim cannot also be set in claims`},
	{"risk reasons claim also set", `token: {claims: [{name: r, string: a}], decisionClaims: {riskReasons: r}}`,
		`spec.token: Invalid value: a decision claim cannot also be set in claims`},
	{"one claim for two decisions", `token: {decisionClaims: {country: x, riskReasons: x}}`,
		`spec.token.decisionClaims: Invalid value: each decision claim needs its own name`},
	{"one claim for both decisions", `token: {decisionClaims: {country: x, abuseScore: x}}`,
		`spec.token.decisionClaims: Invalid value: each decision claim needs its own name`},
	{"one claim for the ASN and the country", `token: {decisionClaims: {country: x, asn: x}}`,
		`spec.token.decisionClaims: Invalid value: each decision claim needs its own name`},
	{"ASN claim also set", `token: {claims: [{name: as, number: "1"}], decisionClaims: {asn: as}}`,
		`spec.token: Invalid value: a decision claim cannot also be set in claims`},
	{"reserved ASN claim", `token: {decisionClaims: {asn: aud}}`,
		`spec.token.decisionClaims.asn: Invalid value: "aud": is a standard claim the platform manages; choose another name`},
	{"array claim without change", `token: {arrayClaims: [{name: groups}]}`,
		`spec.token.arrayClaims[0]: Invalid value: set remove, replace or both`},
	{"replacement to itself", `token: {arrayClaims: [{name: groups, replace: [{from: a, to: a}]}]}`,
		`spec.token.arrayClaims[0].replace[0]: Invalid value: from and to must differ`},

	// denial
	{"description with a comma", `denial: {descriptions: {highRisk: "Blocked, sorry."}}`,
		`spec.denial.descriptions.highRisk: Invalid value: "Blocked, sorry.": may contain only letters, digits, spaces, the characters _ . ! ? ; : ' ( ) [ ] - ` +
			`and the placeholders {country} and {score}: the platform rejects commas, slashes, quotes and other characters`},
	{"description with an unknown placeholder", `denial: {descriptions: {blockedCountry: "Blocked in {city}."}}`,
		`spec.denial.descriptions.blockedCountry: Invalid value: "Blocked in {city}.": may contain only letters, digits, spaces, the characters _ . ! ? ; : ' ( ) [ ] - and the placeholders {country} and {score}`},
	{"list unavailable description", `denial: {descriptions: {listUnavailable: "Blocked/unavailable"}}`,
		`spec.denial.descriptions.listUnavailable: Invalid value: "Blocked/unavailable": may contain only letters, digits, spaces`},
	{"description too long", `denial: {descriptions: {highRisk: "` + strings.Repeat("a", 301) + `"}}`,
		`spec.denial.descriptions.highRisk: Too long: may not be more than 300 bytes`},
	{"failure reason server_error", `denial: {failureReason: server_error}`,
		`spec.denial.failureReason: Invalid value: "server_error": server_error, internal_server_error and 500 are refused by the platform`},
	{"failure reason text", `denial: {failureReason: "denied/blocked"}`,
		`spec.denial.failureReason: Invalid value: "denied/blocked": may contain only letters, digits, spaces and the characters _ . ! ? ; : ' ( ) [ ] -`},
}

// numbers lists the integers from to to, comma-separated.
func numbers(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		if i > from {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(i))
	}
	return b.String()
}

// ValidList is an IPList spec with every field set.
const ValidList = `
entries: [192.0.2.1, 198.51.100.0/24, "2001:db8::/32", 203.0.113.10-203.0.113.20, "2001:db8::1-2001:db8::ff"]
configMaps: [{name: tor-exits-1, key: list}, {name: tor-exits-2, key: list}]
url: {url: "https://check.torproject.org/torbulkexitlist", refreshIntervalSeconds: 2400, maxBytes: 1048576, timeoutSeconds: 20}
file: lists/tor.txt
`

const entryMessage = `must be an address (192.0.2.1), a network in CIDR notation (192.0.2.0/24) or a range of addresses of one family (192.0.2.10-192.0.2.20)`

// ListCases are the invalid IPList specs.
var ListCases = []Case{
	{"no source", `{}`,
		`spec: Invalid value: set at least one source: entries, configMaps, url or file`},
	{"entry", `entries: [192.0.2.300]`,
		`spec.entries[0]: Invalid value: "192.0.2.300": ` + entryMessage},
	{"entry with a zone", `entries: ["fe80::1%eth0"]`,
		`spec.entries[0]: Invalid value: "fe80::1%eth0": ` + entryMessage},
	{"range of two families", `entries: ["192.0.2.1-2001:db8::1"]`,
		`spec.entries[0]: Invalid value: "192.0.2.1-2001:db8::1": ` + entryMessage},
	{"range of three ends", `entries: [192.0.2.1-192.0.2.5-192.0.2.9]`,
		`spec.entries[0]: Invalid value: "192.0.2.1-192.0.2.5-192.0.2.9": ` + entryMessage},
	{"range with spaces", `entries: ["192.0.2.1 - 192.0.2.9"]`,
		`spec.entries[0]: Invalid value: "192.0.2.1 - 192.0.2.9": ` + entryMessage},
	{"entry listed twice", `entries: [192.0.2.1, 192.0.2.1]`,
		`spec.entries[1]: Duplicate value: "192.0.2.1"`},
	{"ConfigMap key", `configMaps: [{name: tor, key: "a/b"}]`,
		`spec.configMaps[0].key: Invalid value: "a/b": spec.configMaps[0].key in body should match '^[-._a-zA-Z0-9]+$'`},
	{"ConfigMap key listed twice", `configMaps: [{name: tor, key: list}, {name: tor, key: list}]`,
		`spec.configMaps[1]: Duplicate value: {"key":"list","name":"tor"}`},
	{"URL scheme", `url: {url: "ftp://example.com/list"}`,
		`spec.url.url: Invalid value: "ftp://example.com/list": must be an http or https URL, such as https://check.torproject.org/torbulkexitlist`},
	{"URL without a host", `url: {url: "https:///list"}`,
		`spec.url.url: Invalid value: "https:///list": must be an http or https URL`},
	{"not a URL", `url: {url: "check.torproject.org/torbulkexitlist"}`,
		`spec.url.url: Invalid value: "check.torproject.org/torbulkexitlist": must be an http or https URL`},
	{"refresh too often", `url: {url: "https://example.com/list", refreshIntervalSeconds: 30}`,
		`spec.url.refreshIntervalSeconds: Invalid value: 30: spec.url.refreshIntervalSeconds in body should be greater than or equal to 60`},
	{"max bytes", `url: {url: "https://example.com/list", maxBytes: 1073741824}`,
		`spec.url.maxBytes: Invalid value: 1073741824: spec.url.maxBytes in body should be less than or equal to 268435456`},
	{"timeout", `url: {url: "https://example.com/list", timeoutSeconds: 600}`,
		`spec.url.timeoutSeconds: Invalid value: 600: spec.url.timeoutSeconds in body should be less than or equal to 120`},
}
