// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package v1alpha1

// The types of the rules that remember earlier calls, in the shared state:
// velocity limits and user history.

// VelocityKey is what a velocity limit counts by.
// +kubebuilder:validation:Enum=Client;ClientAddress;User;UserAddress
type VelocityKey string

// Velocity keys.
const (
	VelocityClient        VelocityKey = "Client"
	VelocityClientAddress VelocityKey = "ClientAddress"
	VelocityUser          VelocityKey = "User"
	VelocityUserAddress   VelocityKey = "UserAddress"
)

// VelocityLimit denies or shortens tokens past a number of issuances in a
// sliding window. Every call the limit sees counts, refused ones too, so a
// client that keeps trying stays limited.
// +kubebuilder:validation:XValidation:rule="self.action != 'Shorten' || has(self.expiresInSeconds)",message="expiresInSeconds is required when action is Shorten"
// +kubebuilder:validation:XValidation:rule="self.action == 'Shorten' || !has(self.expiresInSeconds)",message="expiresInSeconds is only used when action is Shorten"
type VelocityLimit struct {
	// name identifies the limit in logs, metrics and decision claims.
	// +required
	Name RuleName `json:"name"`

	// by is what is counted: Client (tenant and client id), ClientAddress
	// (and the client address), User (tenant and user), UserAddress (and the
	// client address). Calls without a user or an address skip the limits
	// that need one.
	// +required
	By VelocityKey `json:"by"`

	// windowSeconds is the sliding window, 1 s to 1 day.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=86400
	// +required
	WindowSeconds int32 `json:"windowSeconds"`

	// limit is the number of calls the window allows; the next one is
	// denied or shortened.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	// +required
	Limit int32 `json:"limit"`

	// action is Deny or Shorten. Shorten counts the call as risky.
	// +required
	Action UserRuleAction `json:"action"`

	// expiresInSeconds is the access token lifetime when action is Shorten.
	// +optional
	ExpiresInSeconds *ExpiresInSeconds `json:"expiresInSeconds,omitempty"`
}

// HistoryActionType is what a user-history signal does.
// +kubebuilder:validation:Enum=Deny;Shorten;Flag
type HistoryActionType string

// HistoryAction says what a user-history signal does: Deny, Shorten, or
// Flag (only record it: in logs, metrics and the riskReasons claim).
// +kubebuilder:validation:XValidation:rule="self.action != 'Shorten' || has(self.expiresInSeconds)",message="expiresInSeconds is required when action is Shorten"
// +kubebuilder:validation:XValidation:rule="self.action == 'Shorten' || !has(self.expiresInSeconds)",message="expiresInSeconds is only used when action is Shorten"
type HistoryAction struct {
	// action is Deny, Shorten or Flag. Shorten and Flag count the call as risky.
	// +required
	Action HistoryActionType `json:"action"`

	// expiresInSeconds is the access token lifetime when action is Shorten.
	// +optional
	ExpiresInSeconds *ExpiresInSeconds `json:"expiresInSeconds,omitempty"`
}

// ImpossibleTravel fires when the speed between the user's previous
// location and this call's exceeds maxSpeedKmh. It needs a GeoIP database
// with coordinates (a City database).
type ImpossibleTravel struct {
	HistoryAction `json:",inline"`

	// maxSpeedKmh is the fastest believable travel, in km/h. Airliners fly
	// at about 900.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	// +kubebuilder:default=1000
	// +optional
	MaxSpeedKmh int32 `json:"maxSpeedKmh,omitempty"`

	// minDistanceKm ignores shorter moves: city databases place an address
	// tens of kilometres off, and mobile networks move users between
	// gateways.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=20000
	// +kubebuilder:default=200
	// +optional
	MinDistanceKm int32 `json:"minDistanceKm,omitempty"`
}

// UserHistory judges a call by the user's earlier token issuances (per
// tenant and user). Only calls that got a token are remembered: the
// country (and coarse coordinates, to 0.1 degree) and the time.
// +kubebuilder:validation:XValidation:rule="has(self.newCountry) || has(self.impossibleTravel)",message="set newCountry, impossibleTravel or both"
type UserHistory struct {
	// retentionDays is how long a user's countries and last location are
	// remembered; a country not seen for that long is new again.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=365
	// +kubebuilder:default=30
	// +optional
	RetentionDays int32 `json:"retentionDays,omitempty"`

	// newCountry fires when the user gets a token from a country not seen
	// within retentionDays. A user's first token sets the baseline and
	// does not fire.
	// +optional
	NewCountry *HistoryAction `json:"newCountry,omitempty"`

	// impossibleTravel fires when the user would have travelled faster than
	// believable since their previous token.
	// +optional
	ImpossibleTravel *ImpossibleTravel `json:"impossibleTravel,omitempty"`
}
