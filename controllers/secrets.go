// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenguard/tokenguard/internal/compiler"
)

// apiSecretReader reads Secrets straight from the API server. Only Secret
// metadata is cached (to trigger reconciles), so Secret data of the whole
// cluster never sits in this process's memory; a read happens only when a
// policy or a Secret it references changes.
type apiSecretReader struct {
	reader client.Reader
}

var _ compiler.SecretReader = apiSecretReader{}

func (r apiSecretReader) SecretValue(ctx context.Context, namespace, name, key string) ([]byte, error) {
	var s corev1.Secret
	if err := r.reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &compiler.SecretError{Namespace: namespace, Name: name, Key: key, Missing: true, Detail: "the Secret does not exist"}
		}
		return nil, err
	}
	v, ok := s.Data[key]
	if !ok {
		return nil, &compiler.SecretError{Namespace: namespace, Name: name, Key: key, Missing: true, Detail: "the Secret has no such key"}
	}
	return v, nil
}
