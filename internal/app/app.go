// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package app assembles TokenGuard: options, the request path (GeoIP, ASN,
// AbuseIPDB, engine, action handler) and either the Kubernetes manager or
// standalone mode around it.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenguard/tokenguard/internal/abuseipdb"
	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/geoip"
	"github.com/tokenguard/tokenguard/internal/metrics"
	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/serve"
	"github.com/tokenguard/tokenguard/internal/state"
	"github.com/tokenguard/tokenguard/internal/state/redisstore"
	"github.com/tokenguard/tokenguard/webhook"
)

// Options are the command-line settings.
type Options struct {
	ActionAddr     string
	AuthConfigFile string
	TLSCertFile    string
	TLSKeyFile     string

	MetricsAddr string
	ProbeAddr   string

	// ShutdownDrainPeriod is how long the endpoints keep serving after
	// SIGTERM, with readiness failing, before they shut down.
	ShutdownDrainPeriod time.Duration
	// ShutdownTimeout bounds the wait for calls in flight after the drain.
	ShutdownTimeout time.Duration
	// APIHealthInterval is how often the API server is probed (Kubernetes mode).
	APIHealthInterval time.Duration

	LeaderElect             bool
	LeaderElectionNamespace string
	LeaderElectionID        string
	WatchNamespaces         stringList

	GeoIPDatabases      stringList
	ASNDatabases        stringList
	GeoIPReloadInterval time.Duration

	AbuseIPDBURL            string
	AbuseIPDBDisabled       bool
	AbuseIPDBBudget         time.Duration
	AbuseIPDBRequestTimeout time.Duration
	AbuseIPDBCacheSize      int
	AbuseIPDBMaxInFlight    int
	// AbuseIPDBDailyQuota caps upstream lookups per API key per UTC day,
	// counted across the fleet with --redis-url; 0 is no cap.
	AbuseIPDBDailyQuota    int
	AbuseIPDBRejectedPause time.Duration

	// SkipControllerNameValidation lets tests run several managers in one
	// process; it has no flag.
	SkipControllerNameValidation bool

	PolicyFiles    stringList
	SecretsDir     string
	ReloadInterval time.Duration
	ReloadSettle   time.Duration

	// RedisURL selects the shared state: empty keeps it in memory (this
	// replica's own), a redis:// or rediss:// URL shares it through Redis
	// or Valkey.
	RedisURL          string
	RedisPasswordFile string
	RedisCAFile       string
	// RedisTimeout bounds each shared-state operation.
	RedisTimeout time.Duration
}

type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

// BindFlags registers the options on fs with their defaults.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.ActionAddr, "action-bind-address", ":8090", "Address the action endpoint listens on.")
	fs.StringVar(&o.AuthConfigFile, "action-auth-config", "", "File (YAML or JSON) with the endpoint authentication, shaped like the platform's: {type: API_KEY|BASIC|BEARER|NONE, properties: {...}}. Required; NONE must be chosen explicitly.")
	fs.StringVar(&o.TLSCertFile, "action-tls-cert-file", "", "TLS certificate for the action endpoint; renewed files are picked up without a restart.")
	fs.StringVar(&o.TLSKeyFile, "action-tls-key-file", "", "TLS private key for the action endpoint.")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; 0 disables it.")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "Address of /healthz and /readyz.")
	fs.DurationVar(&o.ShutdownDrainPeriod, "shutdown-drain-period", 5*time.Second, "After SIGTERM: how long readiness fails while calls are still answered (with Connection: close), so load balancers stop routing here first. A second signal ends it.")
	fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "After the drain, how long calls in flight may take to finish. Drain period plus this must stay below the pod's terminationGracePeriodSeconds.")
	fs.DurationVar(&o.APIHealthInterval, "api-health-interval", 2*time.Second, "Kubernetes mode: how often the API server is probed, to report a stale snapshot and to catch up promptly when it returns.")
	fs.BoolVar(&o.LeaderElect, "leader-elect", true, "Elect a leader to write status. Every replica serves calls regardless, and losing the lease never stops serving.")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader election Lease (default: the pod's namespace).")
	fs.StringVar(&o.LeaderElectionID, "leader-election-id", "tokenguard.policy.tokenguard.io", "Name of the leader election Lease.")
	fs.Var(&o.WatchNamespaces, "watch-namespace", "Namespace to watch for TokenPolicies and their Secrets (repeatable; default all).")
	fs.Var(&o.GeoIPDatabases, "geoip-database", "MaxMind-format country database (GeoIP2/GeoLite2 Country or City, DB-IP, or an ip-location-db file). Repeatable; the first that knows an address wins.")
	fs.Var(&o.ASNDatabases, "asn-database", "MaxMind-format ASN database (GeoLite2-ASN, GeoIP2-ISP, or the ip-location-db default that hack/fetch-geoip.sh asn converts). Repeatable; the first that knows an address wins.")
	fs.DurationVar(&o.GeoIPReloadInterval, "geoip-reload-interval", time.Minute, "How often GeoIP and ASN database files are checked for replacement.")
	fs.StringVar(&o.AbuseIPDBURL, "abuseipdb-url", abuseipdb.DefaultURL, "AbuseIPDB API base URL.")
	fs.BoolVar(&o.AbuseIPDBDisabled, "abuseipdb-disabled", false, "Switch AbuseIPDB off: every policy's AbuseIPDB step is skipped (not failed).")
	fs.DurationVar(&o.AbuseIPDBBudget, "abuseipdb-budget", time.Second, "Total time AbuseIPDB lookups may take for one platform call; past it the policy's onFailure applies. Keep well under the platform's read timeout (Asgardeo: 3s).")
	fs.DurationVar(&o.AbuseIPDBRequestTimeout, "abuseipdb-request-timeout", 4*time.Second, "Bound on one upstream AbuseIPDB request. It may outlive the call that started it, so the platform's retry finds the score cached.")
	fs.IntVar(&o.AbuseIPDBCacheSize, "abuseipdb-cache-size", 100000, "Most AbuseIPDB scores kept in memory.")
	fs.IntVar(&o.AbuseIPDBMaxInFlight, "abuseipdb-max-in-flight", 64, "Most concurrent upstream AbuseIPDB requests; past it new addresses fail fast and onFailure applies.")
	fs.IntVar(&o.AbuseIPDBDailyQuota, "abuseipdb-daily-quota", 0, "Most AbuseIPDB lookups per API key per UTC day, counted across the fleet with --redis-url (the free plan allows 1000); past it onFailure applies. 0: no cap.")
	fs.DurationVar(&o.AbuseIPDBRejectedPause, "abuseipdb-rejected-key-pause", 5*time.Minute, "After AbuseIPDB rejects an API key (401 or 403), how long no request is made with it; its policies' onFailure applies meanwhile. A rotated key is not paused.")
	fs.Var(&o.PolicyFiles, "policy-file", "Standalone mode: a TokenPolicy manifest file or directory (repeatable). Runs without Kubernetes.")
	fs.StringVar(&o.SecretsDir, "secrets-dir", "", "Standalone mode: Secret keys are read from DIR/<secret-name>/<key>.")
	fs.DurationVar(&o.ReloadInterval, "reload-interval", 2*time.Second, "Standalone mode: how often policy files and Secret keys are checked for changes.")
	fs.StringVar(&o.RedisURL, "redis-url", "", "Redis or Valkey the replicas share state through: redis://[:password@]host:port[/db], or rediss://... for TLS. Empty: state is kept in memory, per replica.")
	fs.StringVar(&o.RedisPasswordFile, "redis-password-file", "", "File holding the Redis password (a mounted Secret), read at start; it wins over a password in --redis-url.")
	fs.StringVar(&o.RedisCAFile, "redis-ca-file", "", "PEM CA bundle that verifies the Redis server's certificate instead of the system roots (rediss:// only).")
	fs.DurationVar(&o.RedisTimeout, "redis-timeout", redisstore.DefaultOpTimeout, "Bound on each Redis operation, connecting included; past it the use's failure mode applies. Tens of milliseconds: the platform waits about 3s for the whole call.")
	fs.DurationVar(&o.ReloadSettle, "reload-settle", 2*time.Second, "How long a changed policy file, Secret key or auth config must keep its content before it is applied; longer than any pause of a writer that rewrites files in place.")
}

// Validate reports every problem with the options at once.
func (o *Options) Validate() error {
	var errs []error
	if o.AuthConfigFile == "" {
		errs = append(errs, errors.New("--action-auth-config is required (use a file with {type: NONE} to run without authentication, for tests only)"))
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		errs = append(errs, errors.New("--action-tls-cert-file and --action-tls-key-file go together"))
	}
	if o.AbuseIPDBBudget <= 0 || o.AbuseIPDBBudget >= 3*time.Second {
		errs = append(errs, fmt.Errorf("--abuseipdb-budget %s must be above 0 and below the platform's 3s read timeout", o.AbuseIPDBBudget))
	}
	if o.SecretsDir != "" && len(o.PolicyFiles) == 0 {
		errs = append(errs, errors.New("--secrets-dir is for standalone mode and needs --policy-file"))
	}
	if o.ShutdownDrainPeriod < 0 || o.ShutdownTimeout <= 0 || o.APIHealthInterval <= 0 {
		errs = append(errs, errors.New("--shutdown-drain-period must not be negative; --shutdown-timeout and --api-health-interval must be positive"))
	}
	if o.GeoIPReloadInterval <= 0 || o.ReloadInterval <= 0 || o.ReloadSettle <= 0 {
		errs = append(errs, errors.New("reload intervals and --reload-settle must be positive"))
	}
	if o.RedisTimeout <= 0 || o.RedisTimeout >= time.Second {
		errs = append(errs, fmt.Errorf("--redis-timeout %s must be above 0 and below 1s (a call makes several operations within the platform's 3s)", o.RedisTimeout))
	}
	if o.AbuseIPDBDailyQuota < 0 {
		errs = append(errs, fmt.Errorf("--abuseipdb-daily-quota %d must be 0 (no cap) or more", o.AbuseIPDBDailyQuota))
	}
	if o.RedisURL == "" && (o.RedisPasswordFile != "" || o.RedisCAFile != "") {
		errs = append(errs, errors.New("--redis-password-file and --redis-ca-file need --redis-url"))
	}
	return errors.Join(errs...)
}

// Standalone reports whether the options select standalone mode.
func (o *Options) Standalone() bool { return len(o.PolicyFiles) > 0 }

// Service is the request path, shared by both modes.
type Service struct {
	Store   *policy.Store
	Metrics *metrics.Metrics
	Geo     *geoip.Resolver
	ASN     *geoip.ASNResolver
	Auth    *webhook.Auth
	Handler *webhook.Handler
	Server  *serve.Server
	// Reloads records the outcome of reloading each watched file.
	Reloads *metrics.Reloads
	// Lifecycle has the gauges of start-up, drain, leadership and staleness.
	Lifecycle *metrics.Lifecycle
	// State is the shared state (in memory without --redis-url), measured
	// by Metrics.State; the engine decides with it.
	State state.Store
	// IPLists records what each IP list holds.
	IPLists *metrics.IPLists

	draining atomic.Bool
}

// NewService builds the request path.
func NewService(o *Options, reg prometheus.Registerer, log logr.Logger) (*Service, error) {
	m := metrics.New(reg)
	auth, authCfg, err := webhook.NewAuth(o.AuthConfigFile)
	if err != nil {
		return nil, err
	}
	if authCfg.Type == webhook.AuthNone {
		log.Info("WARNING: the action endpoint accepts calls without authentication (type NONE); use BASIC, BEARER or API_KEY in production")
	}
	if len(o.GeoIPDatabases) == 0 {
		log.Info("WARNING: no --geoip-database given: every country is unknown and each policy's onUnknownCountry applies")
	}
	geo, err := geoip.Open(o.GeoIPDatabases)
	if err != nil {
		return nil, err
	}
	for _, d := range geo.Databases() {
		m.GeoIPBuildTime.WithLabelValues(d.Path, d.Type).Set(float64(d.BuildTime.Unix()))
		log.Info("geoip database loaded", "path", d.Path, "type", d.Type, "format", d.Format.String(), "buildTime", d.BuildTime)
	}
	if len(o.ASNDatabases) == 0 {
		log.Info("no --asn-database given: every ASN is unknown and each ASN rule's onUnknownASN applies")
	}
	asn, err := geoip.OpenASN(o.ASNDatabases)
	if err != nil {
		return nil, err
	}
	for _, d := range asn.Databases() {
		m.ASNBuildTime.WithLabelValues(d.Path, d.Type).Set(float64(d.BuildTime.Unix()))
		log.Info("asn database loaded", "path", d.Path, "type", d.Type, "buildTime", d.BuildTime)
	}
	st, err := newState(o, m, log.WithName("state"))
	if err != nil {
		return nil, err
	}
	var rep engine.Reputation
	if o.AbuseIPDBDisabled {
		log.Info("WARNING: AbuseIPDB is switched off (--abuseipdb-disabled): AbuseIPDB rules are skipped")
	} else {
		c, err := abuseipdb.New(abuseipdb.Options{
			BaseURL: o.AbuseIPDBURL, CacheSize: o.AbuseIPDBCacheSize,
			UpstreamTimeout: o.AbuseIPDBRequestTimeout, MaxInFlight: o.AbuseIPDBMaxInFlight, Observe: m.ObserveAbuseIPDB,
			RejectedKeyPause: o.AbuseIPDBRejectedPause, ObserveKeys: m.ObserveAbuseIPDBKeys,
			// Scores, the daily quota and pauses are shared through the
			// state: across the fleet with --redis-url.
			Store: st, StoreTimeout: o.RedisTimeout, DailyQuota: o.AbuseIPDBDailyQuota,
			ObserveStore: func(use, result string) {
				if result == "fallback" {
					m.State.Fallback(use)
				}
			},
			Log: log.WithName("abuseipdb"),
		})
		if err != nil {
			return nil, err
		}
		rep = c
	}
	store := policy.NewStore()
	h := newHandler(geo, asn, rep, o.AbuseIPDBBudget, st, store, m, log.WithName("decision"), nil)
	svc := &Service{Store: store, Metrics: m, Geo: geo, ASN: asn, Auth: auth, Handler: h, Lifecycle: metrics.NewLifecycle(reg), Reloads: metrics.NewReloads(reg), State: st,
		IPLists: metrics.NewIPLists(reg)}
	svc.Server = &serve.Server{
		Name: "action endpoint", Addr: o.ActionAddr, Handler: webhook.NewMux(h, auth),
		CertFile: o.TLSCertFile, KeyFile: o.TLSKeyFile, Log: log.WithName("action-endpoint"),
		ShutdownTimeout: o.ShutdownTimeout, Draining: svc.draining.Load, Reloads: svc.Reloads,
		MaxHeaderBytes: webhook.ServerMaxHeaderBytes,
	}
	return svc, nil
}

// newState builds the shared state, measured by m: in memory without
// --redis-url, else on Redis. A Redis that does not answer yet does not
// stop the start: it is logged, every use applies its failure mode, and
// the client connects by itself once the server answers.
func newState(o *Options, m *metrics.Metrics, log logr.Logger) (state.Store, error) {
	if o.RedisURL == "" {
		log.Info("shared state in memory: each replica keeps its own (set --redis-url to share it)")
		return state.Instrument(state.NewMemory(nil), m.State.ObserveOp), nil
	}
	redisstore.SetLogger(log.WithName("redis"))
	rs, err := redisstore.New(redisstore.Options{
		URL: o.RedisURL, PasswordFile: o.RedisPasswordFile, CAFile: o.RedisCAFile, OpTimeout: o.RedisTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("--redis-url: %w", err)
	}
	st := state.Instrument(rs, m.State.ObserveOp)
	// The first connection may need a TLS handshake: allow it a few
	// operation timeouts before calling the server absent.
	var pingErr error
	for range 3 {
		if pingErr = st.Ping(context.Background()); pingErr == nil {
			break
		}
	}
	if pingErr != nil {
		log.Info("WARNING: Redis does not answer; serving anyway: each use of the shared state applies its failure mode until it does, and the client reconnects by itself",
			"addr", rs.Addr(), "error", pingErr.Error())
	} else {
		log.Info("shared state on Redis", "addr", rs.Addr(), "timeout", o.RedisTimeout.String())
	}
	return st, nil
}

// Close releases the shared state's connections. Calls still using it
// then fail over to their failure modes.
func (s *Service) Close() error {
	if s.State == nil {
		return nil
	}
	return s.State.Close()
}

// newHandler assembles the decision path that both the action endpoint and
// `tokenguard decide` answer through. rep is nil when AbuseIPDB is off (its
// rules are then skipped); st holds velocity counts and user history; m
// may be nil; now nil means time.Now.
func newHandler(geo *geoip.Resolver, asn *geoip.ASNResolver, rep engine.Reputation, budget time.Duration, st state.Store, store *policy.Store,
	m *metrics.Metrics, log logr.Logger, now func() time.Time) *webhook.Handler {
	eng := &engine.Engine{Geo: geo, ASN: asn, Reputation: rep, ReputationBudget: budget, State: st}
	return &webhook.Handler{Engine: eng, Policies: store, Metrics: m, Log: log, Now: now}
}

// OnSnapshot updates the served-policies and ready gauges.
func (s *Service) OnSnapshot(snap *policy.Snapshot) {
	s.Metrics.PoliciesServed.Set(float64(len(snap.Policies)))
	if s.Store.Ready() {
		s.Lifecycle.Ready.Set(1)
	}
}

// Watchers runs the file watchers (GeoIP and ASN databases, auth config) until ctx ends.
func (s *Service) Watchers(ctx context.Context, o *Options, log logr.Logger) {
	go s.Geo.Watch(ctx, o.GeoIPReloadInterval, log.WithName("geoip"), s.Reloads, func(d *geoip.Database) {
		s.Metrics.GeoIPBuildTime.WithLabelValues(d.Path, d.Type).Set(float64(d.BuildTime.Unix()))
	})
	go s.ASN.Watch(ctx, o.GeoIPReloadInterval, log.WithName("asn"), s.Reloads, func(d *geoip.Database) {
		s.Metrics.ASNBuildTime.WithLabelValues(d.Path, d.Type).Set(float64(d.BuildTime.Unix()))
	})
	s.Auth.Settle, s.Auth.Reloads = o.ReloadSettle, s.Reloads
	go s.Auth.Watch(ctx, 10*time.Second, log.WithName("auth"))
}

// closeState closes the shared state once the servers have stopped.
func closeState(s *Service, log logr.Logger) {
	if err := s.Close(); err != nil {
		log.Error(err, "closing the shared state")
	}
}

// readyz fails until the first complete snapshot exists, and from the
// start of the shutdown drain on.
func (s *Service) readyz(_ *http.Request) error {
	switch {
	case s.draining.Load():
		return errors.New("shutting down")
	case !s.Store.Ready():
		return errors.New("policy snapshot not built yet")
	}
	return nil
}
