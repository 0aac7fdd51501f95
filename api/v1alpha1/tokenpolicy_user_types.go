// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package v1alpha1

// The types of user-aware policies: conditions on who a token is for, the
// user rules that judge by them, and the changes to user attributes and the
// refresh token.

// Aut is the token's aut claim: APPLICATION for application tokens
// (client_credentials), APPLICATION_USER for tokens issued to a user.
// +kubebuilder:validation:Enum=APPLICATION;APPLICATION_USER
type Aut string

// UserStoreName is a user store's name as the platform sends it in
// event.userStore.name, such as PRIMARY or DEFAULT.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=128
type UserStoreName string

// OrganizationRef names an organization by its id, its name or its handle.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=256
type OrganizationRef string

// ClaimKey is the name of a claim a condition reads. Unlike ClaimName it may
// name a claim the platform manages, such as sub or aut.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=128
// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.:#-]+$`
type ClaimKey string

// ClaimOperator says how a claim condition compares.
// +kubebuilder:validation:Enum=Exists;DoesNotExist;In;NotIn;ContainsAny;ContainsAll;ContainsNone
type ClaimOperator string

// Claim operators.
const (
	OpExists       ClaimOperator = "Exists"
	OpDoesNotExist ClaimOperator = "DoesNotExist"
	OpIn           ClaimOperator = "In"
	OpNotIn        ClaimOperator = "NotIn"
	OpContainsAny  ClaimOperator = "ContainsAny"
	OpContainsAll  ClaimOperator = "ContainsAll"
	OpContainsNone ClaimOperator = "ContainsNone"
)

// ClaimCondition tests a claim of the access token (event.accessToken.claims),
// where the platform puts the user's attributes (groups, email, roles, ...).
// Exists and DoesNotExist take no values; the other operators need them.
// In and NotIn compare a single value (a string, or a number or boolean as
// written in JSON); ContainsAny, ContainsAll and ContainsNone compare the
// elements of an array claim, a single value counting as an array of one.
// An absent claim satisfies only DoesNotExist, NotIn and ContainsNone.
// +kubebuilder:validation:XValidation:rule="(self.operator in ['Exists', 'DoesNotExist']) == (!has(self.values) || size(self.values) == 0)",message="Exists and DoesNotExist take no values; the other operators need at least one"
type ClaimCondition struct {
	// name is the claim's name.
	// +required
	Name ClaimKey `json:"name"`

	// operator is Exists, DoesNotExist, In, NotIn, ContainsAny, ContainsAll or ContainsNone.
	// +required
	Operator ClaimOperator `json:"operator"`

	// values are compared with the claim.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=1024
	// +listType=set
	// +optional
	Values []string `json:"values,omitempty"`
}

// ListOperator says how a list condition compares.
// +kubebuilder:validation:Enum=ContainsAny;ContainsAll;ContainsNone
type ListOperator string

// ScopeCondition tests the scopes the client asked for (event.request.scopes).
// No requested scopes is an empty list: it satisfies only ContainsNone.
type ScopeCondition struct {
	// operator is ContainsAny, ContainsAll or ContainsNone.
	// +required
	Operator ListOperator `json:"operator"`

	// values are scopes.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	// +required
	Values []Scope `json:"values"`
}

// Conditions are tests on who a token is for and what was asked. Every one
// that is set must hold. A call without a user (an application token)
// satisfies none of userStores, userOrganizations and subOrganization.
type Conditions struct {
	// aut are the token kinds selected, by the token's aut claim:
	// APPLICATION (client_credentials) or APPLICATION_USER.
	// +kubebuilder:validation:MaxItems=2
	// +listType=set
	// +optional
	Aut []Aut `json:"aut,omitempty"`

	// userStores are user store names (event.userStore.name), such as PRIMARY.
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	// +optional
	UserStores []UserStoreName `json:"userStores,omitempty"`

	// organizations select the organization issuing the token
	// (event.organization) by id, name or handle.
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	// +optional
	Organizations []OrganizationRef `json:"organizations,omitempty"`

	// userOrganizations select the user's organization
	// (event.user.organization) by id, name or handle.
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	// +optional
	UserOrganizations []OrganizationRef `json:"userOrganizations,omitempty"`

	// subOrganization, when set, selects users of a sub-organization (true:
	// event.user.organization.depth above 0) or of the root organization (false).
	// +optional
	SubOrganization *bool `json:"subOrganization,omitempty"`

	// requestedScopes tests the scopes the client asked for.
	// +optional
	RequestedScopes *ScopeCondition `json:"requestedScopes,omitempty"`

	// claims test the access token's claims; all must hold.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	Claims []ClaimCondition `json:"claims,omitempty"`
}

// UserRuleAction is what a user rule does to the calls it selects.
// +kubebuilder:validation:Enum=Deny;Shorten
type UserRuleAction string

// RuleName names a rule in logs and metrics.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
type RuleName string

// UserRule denies or shortens the tokens of the calls its conditions select.
// +kubebuilder:validation:XValidation:rule="self.action != 'Shorten' || has(self.expiresInSeconds)",message="expiresInSeconds is required when action is Shorten"
// +kubebuilder:validation:XValidation:rule="self.action == 'Shorten' || !has(self.expiresInSeconds)",message="expiresInSeconds is only used when action is Shorten"
// +kubebuilder:validation:XValidation:rule="has(self.when.aut) || has(self.when.userStores) || has(self.when.organizations) || has(self.when.userOrganizations) || has(self.when.subOrganization) || has(self.when.requestedScopes) || has(self.when.claims)",message="when needs at least one condition"
type UserRule struct {
	// name identifies the rule in logs and metrics.
	// +required
	Name RuleName `json:"name"`

	// when are the conditions; all must hold.
	// +required
	When Conditions `json:"when"`

	// action is Deny or Shorten. Shorten counts the call as risky.
	// +required
	Action UserRuleAction `json:"action"`

	// expiresInSeconds is the access token lifetime when action is Shorten.
	// +optional
	ExpiresInSeconds *ExpiresInSeconds `json:"expiresInSeconds,omitempty"`
}

// ClaimValue is an element value of an array claim.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=1024
type ClaimValue string

// ValueReplacement replaces one element value with another.
// +kubebuilder:validation:XValidation:rule="self.from != self.to",message="from and to must differ"
type ValueReplacement struct {
	// from is the element value replaced.
	// +required
	From ClaimValue `json:"from"`
	// to is the value it is replaced with, sent as a string.
	// +required
	To ClaimValue `json:"to"`
}

// ArrayClaimChanges change the elements of one array claim by value; the
// platform wants the elements' indexes in the token as sent, which
// TokenGuard works out for each call.
// +kubebuilder:validation:XValidation:rule="has(self.remove) || has(self.replace)",message="set remove, replace or both"
type ArrayClaimChanges struct {
	// name is the array claim, such as groups or roles.
	// +required
	Name ClaimName `json:"name"`

	// remove are element values removed.
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	// +optional
	Remove []ClaimValue `json:"remove,omitempty"`

	// replace are element values replaced. Removal wins over replacement.
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	Replace []ValueReplacement `json:"replace,omitempty"`
}

// RiskyTokenChanges are changes made only to calls judged risky.
type RiskyTokenChanges struct {
	// maxRefreshExpiresInSeconds caps the refresh token's lifetime.
	// +optional
	MaxRefreshExpiresInSeconds *ExpiresInSeconds `json:"maxRefreshExpiresInSeconds,omitempty"`

	// withholdRefreshToken leaves the refresh token out of the token
	// endpoint's response (contract v1.3: the call's event.response).
	// +optional
	WithholdRefreshToken bool `json:"withholdRefreshToken,omitempty"`

	// withholdIDToken leaves the ID token out of the token endpoint's
	// response (contract v1.3).
	// +optional
	WithholdIDToken bool `json:"withholdIDToken,omitempty"`
}
