// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package webhook is the action endpoint the identity platform calls before
// it issues an access token: HTTP transport (method, content type, size,
// decoding, authentication, panics) around a typed Handle that decides from
// the current policy snapshot and answers in forms the platform accepts.
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/tokenguard/tokenguard/internal/action"
	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/metrics"
	"github.com/tokenguard/tokenguard/internal/policy"
)

// Path is where the platform's calls are served.
const Path = "/actions/pre-issue-access-token"

// MaxRequestBytes bounds a request body. A larger body gets 400 with an
// ERROR body: the platform reads only 200, 400, 401 and 500 (and retries
// 502 to 504), so 413 would reach it as an unexpected answer.
const MaxRequestBytes = 1 << 20

// MaxHeaderBytes bounds the request line and header fields, counted as they
// travel (see headerBytes). Larger ones get 400 with an ERROR body.
const MaxHeaderBytes = 64 << 10

// ServerMaxHeaderBytes is the http.Server MaxHeaderBytes to serve Handler
// with. net/http reads at most that plus 4096 bytes of request line and
// headers, and answers anything larger itself, with 431 and a text/plain
// body, before any handler runs: no handler can turn that into an answer the
// platform accepts. So the server's limit is set far above MaxHeaderBytes
// (at net/http's default, 1 MiB): headers from MaxHeaderBytes up to it get
// the handler's 400 and ERROR body, and only absurd ones net/http's 431.
const ServerMaxHeaderBytes = 1 << 20

// Handler answers the platform's calls.
type Handler struct {
	Engine   *engine.Engine
	Policies *policy.Store
	Metrics  *metrics.Metrics
	Log      logr.Logger
	// Now defaults to time.Now; access hours are judged by it.
	Now func() time.Time
}

var _ http.Handler = (*Handler)(nil)

// Answer is a response with its HTTP status. Only Body is sent to the
// platform; Decision and Skipped say how it came about (tokenguard decide
// prints them).
type Answer struct {
	Status int
	Body   *action.Response
	// Decision is the engine's decision; nil when the call was not decided.
	Decision *engine.Decision
	// Skipped are the changes the decision asked for that the platform would
	// not apply to this call, so no operation was sent for them.
	Skipped []action.Skipped
}

func errorAnswer(status int, message, description string) Answer {
	return Answer{Status: status, Body: action.Error(message, description)}
}

// ServeHTTP is the transport: it checks the header size, method, content
// type and body size, decodes, calls Handle, and writes the Answer. Every
// path ends in a JSON body with a status the platform reads (200, 400 or
// 500), never a panic or an HTML page.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	a := h.serve(r)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
	}
	h.write(w, a)
	if h.Metrics != nil {
		h.Metrics.Requests.WithLabelValues(statusLabel(a.Status)).Inc()
		h.Metrics.RequestDuration.Observe(time.Since(start).Seconds())
	}
}

func (h *Handler) serve(r *http.Request) (a Answer) {
	defer func() {
		if p := recover(); p != nil {
			h.Log.Error(fmt.Errorf("panic: %v", p), "action handler panicked")
			a = errorAnswer(http.StatusInternalServerError, "server_error", "The token policy service failed to process the request.")
		}
	}()
	// 400 rather than 431, 405 or 415: the platform reads no other client
	// error (contract H2, H5).
	if headerBytes(r) > MaxHeaderBytes {
		return errorAnswer(http.StatusBadRequest, "invalid_request", "The request headers are larger than 64 KiB.")
	}
	if r.Method != http.MethodPost {
		return errorAnswer(http.StatusBadRequest, "invalid_request", "Only POST is supported.")
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		return errorAnswer(http.StatusBadRequest, "invalid_request", "The request content type must be JSON.")
	}
	if r.Body == nil || r.Body == http.NoBody {
		return errorAnswer(http.StatusBadRequest, "invalid_request", "The request body is empty.")
	}
	buf := getBuffer()
	defer putBuffer(buf)
	body, err := readBody(r.Body, (*buf)[:0])
	*buf = body
	if err != nil {
		return errorAnswer(http.StatusBadRequest, "invalid_request", "The request body could not be read.")
	}
	if len(body) > MaxRequestBytes {
		return errorAnswer(http.StatusBadRequest, "invalid_request", "The request body is larger than 1 MiB.")
	}
	// The decoded request keeps nothing of body: the buffer goes back to
	// the pool when serve returns.
	var req action.Request
	if err := action.DecodeRequest(body, &req); err != nil {
		return errorAnswer(http.StatusBadRequest, "invalid_request", decodeProblem(err))
	}
	return h.Handle(r.Context(), &req)
}

// Buffers for request and answer bodies, reused across calls: most calls
// are a few KiB, so a call reads and writes without growing a buffer.
var buffers = sync.Pool{New: func() any {
	b := make([]byte, 0, 8<<10)
	return &b
}}

// maxPooled keeps the buffer of an unusually large call out of the pool.
const maxPooled = 64 << 10

func getBuffer() *[]byte { return buffers.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) <= maxPooled {
		*b = (*b)[:0]
		buffers.Put(b)
	}
}

// readBody appends at most MaxRequestBytes+1 bytes of the body to b, as
// io.ReadAll(io.LimitReader(body, MaxRequestBytes+1)) reads them.
func readBody(body io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := body.Read(b[len(b):min(cap(b), MaxRequestBytes+1)])
		b = b[:len(b)+n]
		if err == io.EOF || len(b) > MaxRequestBytes {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// headerBytes is the size of the request line and header fields as they
// travel in HTTP/1.1 ("Name: value" and CRLF per field line, Host included):
// close to what net/http counts against its own limit, which also counts
// optional white space. It walks the parsed header and allocates nothing.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	if r.Host != "" {
		n += len("Host: ") + len(r.Host) + 2
	}
	for name, values := range r.Header {
		for _, v := range values {
			n += len(name) + 2 + len(v) + 2
		}
	}
	return n
}

// isJSON reports whether a Content-Type is application/json, with any
// parameters (charset=UTF-8), without the allocations of mime.ParseMediaType.
// Media types are ASCII: "application/j\u017fon" (U+017F) is not JSON.
func isJSON(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return engine.EqualFoldASCII(strings.TrimSpace(ct), "application/json")
}

// statusLabels spares the metric label a strconv allocation per call.
// The handler answers only with these.
var statusLabels = map[int]string{200: "200", 400: "400", 500: "500"}

func statusLabel(code int) string {
	if s, ok := statusLabels[code]; ok {
		return s
	}
	return strconv.Itoa(code)
}

// decodeProblem describes a decoding error without echoing request content.
func decodeProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "The request body is not valid JSON (at byte " + strconv.FormatInt(se.Offset, 10) + ")."
	case errors.As(err, &te):
		return "The request field " + te.Field + " has the wrong type: expected " + te.Type.String() + "."
	default:
		return "The request does not have the shape of a pre-issue access token call."
	}
}

// notReady is the answer before the first complete snapshot.
var notReady = errorAnswer(http.StatusInternalServerError, "server_error", "The token policy service is starting and has not loaded its policies yet.")

// Handle decides a decoded call.
func (h *Handler) Handle(ctx context.Context, req *action.Request) Answer {
	switch {
	case req.ActionType != action.ActionType:
		return errorAnswer(http.StatusBadRequest, "invalid_request", "Unsupported action type: this endpoint serves PRE_ISSUE_ACCESS_TOKEN.")
	case req.Event == nil:
		return errorAnswer(http.StatusBadRequest, "invalid_request", "The request has no event.")
	}
	ev := req.Event
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	call := engine.Call{
		Tenant:    ev.Tenant.Name,
		ClientID:  ev.Request.ClientID,
		GrantType: ev.Request.GrantType,
		Headers:   ev.Request.AdditionalHeaders,
		Now:       now(),

		RequestID:       req.RequestID,
		User:            ev.User,
		Organization:    ev.Organization,
		RequestedScopes: ev.Request.Scopes,
		Claims:          ev.AccessToken.Claims,
	}
	if ev.UserStore != nil {
		call.UserStore = ev.UserStore.Name
	}
	if !h.Policies.Ready() {
		// No complete snapshot yet: deciding from a partial one (or none)
		// would let through calls a policy refuses. ERROR (HTTP 500) makes
		// the platform refuse the token.
		if h.Metrics != nil {
			h.Metrics.Decisions.WithLabelValues("error", "", "not_ready").Inc()
		}
		h.Log.Info("token call refused: no complete policy snapshot yet", "requestId", req.RequestID)
		return notReady
	}
	d := h.Engine.Decide(ctx, h.Policies.Load(), &call)
	var a Answer
	var skipped []action.Skipped
	if d.Deny {
		a = Answer{Status: http.StatusOK, Body: action.Failed(d.Denial.FailureReason, d.Denial.Description)}
	} else {
		var ops []action.Operation
		ops, skipped = action.Operations(req, d)
		a = Answer{Status: http.StatusOK, Body: action.Success(ops)}
	}
	h.record(req, d, a, skipped)
	a.Decision, a.Skipped = d, skipped
	return a
}

func (h *Handler) record(req *action.Request, d *engine.Decision, a Answer, skipped []action.Skipped) {
	outcome, pol, reason := "allow", "", "none"
	if d.Deny {
		outcome, pol, reason = "deny", d.Denial.Policy, d.Denial.Cause.String()
	}
	if m := h.Metrics; m != nil {
		m.Decisions.WithLabelValues(outcome, pol, reason).Inc()
		for _, r := range d.Policies {
			m.PolicyEvaluations.WithLabelValues(r.Key, r.Mode.String(), r.Action.String(), r.Cause.String()).Inc()
		}
		for _, s := range skipped {
			m.SkippedChanges.WithLabelValues(s.Kind).Inc()
		}
		if d.StateError != nil {
			m.State.Fallback(d.StateUse)
		}
	}
	log := h.Log
	if !log.Enabled() {
		return
	}
	kv := []any{
		"requestId", req.RequestID, "outcome", outcome, "tenant", req.Event.Tenant.Name,
		"clientId", req.Event.Request.ClientID, "grantType", req.Event.Request.GrantType,
		"ip", d.IP.String(), "country", d.Country, "score", d.Score, "scoreSource", d.ScoreSource.String(),
		"took", d.Took.String(), "policies", explain(d.Policies),
	}
	if d.SentIP.IsValid() {
		kv = append(kv, "sentIp", d.SentIP.String())
	}
	if d.ASN != 0 {
		kv = append(kv, "asn", d.ASN)
	}
	if d.Deny {
		kv = append(kv, "policy", d.Denial.Policy, "cause", d.Denial.Cause.String())
	} else {
		kv = append(kv, "operations", len(a.Body.Operations))
	}
	if d.ScoreError != nil {
		kv = append(kv, "abuseipdbError", d.ScoreError.Error())
	}
	if d.Signals != 0 {
		kv = append(kv, "riskReasons", d.Signals.Names())
	}
	if d.StateError != nil {
		kv = append(kv, "stateError", d.StateUse+": "+d.StateError.Error())
	}
	for _, s := range skipped {
		kv = append(kv, "skipped", s.Change()+": "+s.Reason)
	}
	log.Info("token call decided", kv...)
}

// explain describes each policy's result, such as "ns/p=Shorten:high_risk:900s",
// as substrings of one string: two allocations for any number of policies.
func explain(rs []engine.PolicyResult) []string {
	var b []byte
	ends := make([]int, len(rs))
	for i, r := range rs {
		b = append(b, r.Key...)
		b = append(b, '=')
		b = append(b, r.Action.String()...)
		if r.Mode == policy.Audit {
			b = append(b, "(audit)"...)
		}
		if r.Cause != policy.CauseNone {
			b = append(b, ':')
			b = append(b, r.Cause.String()...)
		}
		if r.Rule != "" {
			b = append(b, '(')
			b = append(b, r.Rule...)
			b = append(b, ')')
		}
		if r.ExpiresIn > 0 {
			b = append(b, ':')
			b = strconv.AppendInt(b, r.ExpiresIn, 10)
			b = append(b, 's')
		}
		ends[i] = len(b)
	}
	all := string(b)
	out := make([]string, len(rs))
	start := 0
	for i, end := range ends {
		out[i], start = all[start:end], end
	}
	return out
}

var fallbackError = []byte(`{"actionStatus":"ERROR","errorMessage":"server_error","errorDescription":"The Answer could not be encoded."}`)

func (h *Handler) write(w http.ResponseWriter, a Answer) {
	buf := getBuffer()
	defer putBuffer(buf)
	var b []byte
	var err error
	if a.Body != nil {
		b, err = a.Body.AppendJSON((*buf)[:0])
		*buf = b
	} else {
		b, err = json.Marshal(a.Body)
	}
	if err != nil {
		a.Status, b = http.StatusInternalServerError, fallbackError
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(a.Status)
	_, _ = w.Write(b)
}
