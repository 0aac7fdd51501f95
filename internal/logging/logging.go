// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package logging builds the process logger: controller-runtime's zap flags
// and output format, without its log sampling.
//
// controller-runtime's production zap logger keeps the first 100 lines of a
// message per second and then one in 100: at 4,000 calls/s it dropped 96%
// of the "token call decided" lines, silently. Decision lines are an audit
// trail, so TokenGuard never samples.
package logging

import (
	"flag"
	"io"
	"os"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// Options are controller-runtime's zap options (--zap-devel, --zap-encoder,
// --zap-log-level, --zap-stacktrace-level, --zap-time-encoding).
type Options struct {
	crzap.Options
}

// BindFlags registers the --zap-* flags on fs.
func (o *Options) BindFlags(fs *flag.FlagSet) { o.Options.BindFlags(fs) }

// New builds an unsampled logger from o, with controller-runtime's defaults:
// JSON at info level with stack traces on errors, or with --zap-devel the
// console format at debug level with stack traces on warnings.
func New(o Options) logr.Logger {
	return zapr.NewLogger(NewZap(o))
}

// NewZap is New's zap.Logger.
func NewZap(o Options) *zap.Logger {
	dev := o.Development
	level, stack := o.Level, o.StacktraceLevel
	if level == nil {
		level = pick(dev, zapcore.DebugLevel, zapcore.InfoLevel)
	}
	if stack == nil {
		stack = pick(dev, zapcore.WarnLevel, zapcore.ErrorLevel)
	}
	timeEnc := o.TimeEncoder
	if timeEnc == nil {
		timeEnc = zapcore.RFC3339TimeEncoder
	}
	encOpts := append([]crzap.EncoderConfigOption{func(c *zapcore.EncoderConfig) { c.EncodeTime = timeEnc }}, o.EncoderConfigOptions...)
	enc := o.Encoder
	switch {
	case enc != nil:
	case o.NewEncoder != nil:
		enc = o.NewEncoder(encOpts...)
	default:
		enc = defaultEncoder(dev, encOpts)
	}
	var dest io.Writer = os.Stderr
	if o.DestWriter != nil {
		dest = o.DestWriter
	}
	sink := zapcore.AddSync(dest)
	core := zapcore.NewCore(&crzap.KubeAwareEncoder{Encoder: enc, Verbose: dev}, sink, level)
	opts := append([]zap.Option{zap.ErrorOutput(sink), zap.AddStacktrace(stack)}, o.ZapOpts...)
	if dev {
		opts = append(opts, zap.Development())
	}
	return zap.New(core, opts...)
}

func pick(dev bool, ifDev, otherwise zapcore.Level) zapcore.LevelEnabler {
	if dev {
		return zap.NewAtomicLevelAt(ifDev)
	}
	return zap.NewAtomicLevelAt(otherwise)
}

func defaultEncoder(dev bool, opts []crzap.EncoderConfigOption) zapcore.Encoder {
	if dev {
		c := zap.NewDevelopmentEncoderConfig()
		for _, o := range opts {
			o(&c)
		}
		return zapcore.NewConsoleEncoder(c)
	}
	c := zap.NewProductionEncoderConfig()
	for _, o := range opts {
		o(&c)
	}
	return zapcore.NewJSONEncoder(c)
}
