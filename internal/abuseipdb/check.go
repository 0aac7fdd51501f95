// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package abuseipdb

// The exchange with AbuseIPDB: one GET /api/v2/check, its answer and its
// errors, and the pauses its headers announce.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"time"
)

type checkResponse struct {
	Data *struct {
		AbuseConfidenceScore *int `json:"abuseConfidenceScore"`
	} `json:"data"`
	Errors []struct {
		Detail string `json:"detail"`
	} `json:"errors"`
}

var retryIn = regexp.MustCompile(`(?i)try again in (\d+) seconds?`)

// check makes one upstream request.
func (c *Client) check(ctx context.Context, sc *storeCall, key string, fp uint64, ip netip.Addr, maxAge int) (int, error) {
	v := url.Values{}
	v.Set("ipAddress", ip.String())
	if maxAge > 0 {
		v.Set("maxAgeInDays", strconv.Itoa(maxAge))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/check?"+v.Encode(), nil)
	if err != nil {
		return 0, &Error{Kind: KindInvalid, Detail: err.Error()}
	}
	req.Header.Set("Key", key)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, &Error{Kind: KindTimeout, Detail: "no answer within " + c.timeout.String()}
		}
		return 0, &Error{Kind: KindNetwork, Detail: redactURL(err)}
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		if ctx.Err() != nil {
			return 0, &Error{Kind: KindTimeout, Detail: "no answer within " + c.timeout.String()}
		}
		return 0, &Error{Kind: KindNetwork, Detail: err.Error()}
	}
	var r checkResponse
	decodeErr := json.Unmarshal(body, &r)
	detail := ""
	if len(r.Errors) > 0 {
		detail = r.Errors[0].Detail
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if decodeErr != nil || r.Data == nil || r.Data.AbuseConfidenceScore == nil {
			return 0, &Error{Kind: KindDecode, Status: resp.StatusCode, Detail: "no data.abuseConfidenceScore in the answer"}
		}
		s := *r.Data.AbuseConfidenceScore
		if s < 0 || s > 100 {
			return 0, &Error{Kind: KindDecode, Status: resp.StatusCode, Detail: "score out of range: " + strconv.Itoa(s)}
		}
		if until, ok := c.noteQuota(fp, resp.Header); ok {
			sc.sharePause(ctx, fp, until)
		}
		if c.accepted(Fingerprint(fp)) {
			sc.forgetRejection(ctx, fp)
		}
		return s, nil
	case http.StatusUnauthorized, http.StatusForbidden:
		if r, ok := c.reject(Fingerprint(fp), resp.StatusCode); ok {
			sc.shareRejection(ctx, fp, r)
		}
		return 0, &Error{Kind: KindUnauthorized, Status: resp.StatusCode, Detail: orText(detail, "the API key was refused")}
	case http.StatusUnprocessableEntity, http.StatusBadRequest:
		return 0, &Error{Kind: KindInvalid, Status: resp.StatusCode, Detail: orText(detail, "the request was refused")}
	case http.StatusTooManyRequests:
		until := c.resumeAt(resp.Header, detail)
		c.pause(fp, until)
		sc.sharePause(ctx, fp, until)
		return 0, &Error{Kind: KindRateLimited, Status: resp.StatusCode, Detail: orText(detail, "daily quota exhausted")}
	default:
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			return 0, &Error{Kind: KindUpstream, Status: resp.StatusCode, Detail: "AbuseIPDB redirected the request; redirects are not followed, so the API key goes to the configured URL only"}
		}
		return 0, &Error{Kind: KindUpstream, Status: resp.StatusCode, Detail: orText(detail, http.StatusText(resp.StatusCode))}
	}
}

// noRedirects hands a 3xx back to check as it is. Go's http.Client would
// otherwise send the request again, Key header included, to whatever host
// the Location names.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// noteQuota pauses calls with this key until the reset when a successful
// answer says no checks remain today, and returns the pause's end.
func (c *Client) noteQuota(fp uint64, h http.Header) (time.Time, bool) {
	rem := h.Get("X-RateLimit-Remaining")
	if rem == "" {
		return time.Time{}, false
	}
	if n, err := strconv.Atoi(rem); err == nil && n <= 0 {
		until := c.resumeAt(h, "")
		c.pause(fp, until)
		return until, true
	}
	return time.Time{}, false
}

// resumeAt reads when calls may start again: Retry-After (seconds), the
// "try again in N seconds" text, X-RateLimit-Reset (Unix time), else in a minute.
func (c *Client) resumeAt(h http.Header, detail string) time.Time {
	now := c.now()
	if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil && s >= 0 {
		return now.Add(time.Duration(s) * time.Second)
	}
	if m := retryIn.FindStringSubmatch(detail); m != nil {
		if s, err := strconv.Atoi(m[1]); err == nil {
			return now.Add(time.Duration(s) * time.Second)
		}
	}
	if e, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil && e > now.Unix() {
		return time.Unix(e, 0)
	}
	return now.Add(time.Minute)
}

func orText(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// redactURL keeps the error kind without the query string, in case a
// transport error echoes the URL.
func redactURL(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}
