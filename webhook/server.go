// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package webhook

import (
	"net/http"
)

// NewMux routes the action path to h (behind auth) and answers any other
// path 400 with an ERROR body: the platform reads no other client error, and
// follows no redirect (http.ServeMux would redirect unclean paths such as
// //actions/pre-issue-access-token with a 307). internal/serve runs it.
func NewMux(h http.Handler, auth *Auth) http.Handler {
	action := auth.Wrap(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == Path {
			action.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(noSuchPath)
	})
}

var noSuchPath = []byte(`{"actionStatus":"ERROR","errorMessage":"invalid_request","errorDescription":"No action is served at this path."}`)
