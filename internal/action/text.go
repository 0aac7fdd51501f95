// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package action

import "github.com/tokenguard/tokenguard/internal/platform"

// Success is a SUCCESS answer.
func Success(ops []Operation) *Response {
	return &Response{ActionStatus: StatusSuccess, Operations: ops}
}

// Failed is a FAILED answer: the platform refuses the token and shows the
// reason and description to the token client.
func Failed(reason, description string) *Response {
	r := platform.SafeText(reason, platform.MaxReasonLen, "access_denied")
	if platform.RefusedReason(r) {
		// The platform turns these into a server error (contract 3.2).
		r = "access_denied"
	}
	return &Response{
		ActionStatus:       StatusFailed,
		FailureReason:      r,
		FailureDescription: platform.SafeText(description, platform.MaxDescriptionLen, "Access token issuance was denied."),
	}
}

// Error is an ERROR answer. The platform fails the token request with a
// server error and does not pass the message on to the client.
func Error(message, description string) *Response {
	return &Response{
		ActionStatus:     StatusError,
		ErrorMessage:     platform.SafeText(message, platform.MaxReasonLen, "server_error"),
		ErrorDescription: platform.SafeText(description, platform.MaxDescriptionLen, "The request could not be processed."),
	}
}
