// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/internal/action/actiontest"
	tu "github.com/tokenguard/tokenguard/internal/testutil"
	"github.com/tokenguard/tokenguard/webhook"
)

// Any other path, clean or not, gets 400 with an ERROR body: never a 404 or
// a redirect, which the platform treats as an unexpected response.
func TestOtherPathsGetAnError(t *testing.T) {
	e := newEnv(t, seedPolicies(t), envOptions{})
	base := strings.TrimSuffix(e.url, webhook.Path)
	req := tu.Request("175.45.176.1")
	body := tu.JSON(t, req)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/", "/actions", "//actions/pre-issue-access-token", "/actions/./pre-issue-access-token", "/actions/pre-issue-access-token/"} {
		resp, err := client.Post(base+p, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 400 || !bytes.Contains(b.Bytes(), []byte(`"actionStatus":"ERROR"`)) {
			t.Errorf("%s: %d %s", p, resp.StatusCode, b.Bytes())
			continue
		}
		if _, err := actiontest.Apply(req, resp.StatusCode, resp.Header.Get("Content-Type"), b.Bytes()); err != nil {
			t.Errorf("%s: the platform would not accept it: %v", p, err)
		}
	}
}
