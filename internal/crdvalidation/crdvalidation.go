// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package crdvalidation checks a TokenPolicy or an IPList the way the API
// server does on create, without an API server: against the OpenAPI v3
// schema and the x-kubernetes-validations CEL rules of the CRD that `make
// manifests` generates from the markers in api/v1alpha1, with the schema's
// defaults applied. It runs the apiextensions-apiserver's own code (schema
// validation, list-type checks, CEL with the API server's cost limits,
// pruning and defaulting), so a policy file in standalone mode is judged,
// and its problems are worded, exactly as kubectl would show them. The spec
// rules are written once, as markers; see docs/development.md.
package crdvalidation

import (
	"context"
	"fmt"
	"sync"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/config/crd"
)

// schema is the compiled form of the embedded CRD's v1alpha1 schema.
type schema struct {
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	cel        *cel.Validator
	// kind is the CRD's kind.
	kind string
}

// kinds parses each embedded CRD once, on first use: the schema, its
// validator and its compiled CEL programs are reused by every call.
var kinds = map[string]func() (*schema, error){
	"TokenPolicy": sync.OnceValues(func() (*schema, error) { return parse(crd.TokenPolicies, v1alpha1.GroupVersion.Version) }),
	"IPList":      sync.OnceValues(func() (*schema, error) { return parse(crd.IPLists, v1alpha1.GroupVersion.Version) }),
}

// load returns the schema of obj's kind; an object of any other kind is
// judged as a TokenPolicy (and fails on its kind).
func load(obj map[string]any) (*schema, error) {
	kind, _ := obj["kind"].(string)
	if f, ok := kinds[kind]; ok {
		return f()
	}
	return kinds["TokenPolicy"]()
}

// parse builds the validators of one version of a CRD the way the API
// server's CRD handler does.
func parse(crdYAML []byte, version string) (*schema, error) {
	var def apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(crdYAML, &def); err != nil {
		return nil, fmt.Errorf("the embedded CRD: %w", err)
	}
	var v1 *apiextensionsv1.CustomResourceValidation
	for i := range def.Spec.Versions {
		if def.Spec.Versions[i].Name == version {
			v1 = def.Spec.Versions[i].Schema
		}
	}
	if v1 == nil || v1.OpenAPIV3Schema == nil {
		return nil, fmt.Errorf("the embedded CRD %s has no schema for version %s", def.Name, version)
	}
	internal := &apiextensionsinternal.CustomResourceValidation{}
	if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(v1, internal, nil); err != nil {
		return nil, fmt.Errorf("the embedded CRD's schema: %w", err)
	}
	s, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
	if err != nil {
		return nil, fmt.Errorf("the embedded CRD's schema is not structural: %w", err)
	}
	s = s.DeepCopy()
	if err := structuraldefaulting.PruneDefaults(s); err != nil {
		return nil, fmt.Errorf("the embedded CRD's defaults: %w", err)
	}
	validator, _, err := apiservervalidation.NewSchemaValidator(internal.OpenAPIV3Schema)
	if err != nil {
		return nil, fmt.Errorf("the embedded CRD's schema: %w", err)
	}
	return &schema{structural: s, validator: validator, cel: cel.NewValidator(s, true, celconfig.PerCallLimit),
		kind: def.Spec.Names.Kind}, nil
}

// GroupKind names TokenPolicies in errors, as the API server does.
var GroupKind = v1alpha1.GroupVersion.WithKind("TokenPolicy").GroupKind()

// IPListGroupKind names IPLists in errors.
var IPListGroupKind = v1alpha1.GroupVersion.WithKind("IPList").GroupKind()

// Admit prepares and checks obj, a TokenPolicy or IPList as decoded from YAML or JSON
// (integers as int64, as k8s.io/apimachinery/pkg/util/json decodes them),
// as the API server does on create: it rejects unknown fields (kubectl's
// strict field validation), drops nulls, applies the schema's defaults to
// obj in place, and validates the result. The error, when there is one,
// reads as the API server's: a strict decoding error, or an Invalid status
// error listing each problem with its field path.
func Admit(ctx context.Context, obj map[string]any) error {
	s, err := load(obj)
	if err != nil {
		return err
	}
	if unknown := structuralpruning.PruneWithOptions(obj, s.structural, true,
		structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}); len(unknown) > 0 {
		errs := make([]error, len(unknown))
		for i, p := range unknown {
			errs[i] = fmt.Errorf(`unknown field "%s"`, p)
		}
		return runtime.NewStrictDecodingError(errs)
	}
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(obj, s.structural)
	structuraldefaulting.Default(obj, s.structural)
	if errs := validate(ctx, s, obj); len(errs) > 0 {
		return apierrors.NewInvalid(v1alpha1.GroupVersion.WithKind(s.kind).GroupKind(), name(obj), errs)
	}
	return nil
}

// ValidatePolicy checks a TokenPolicy built in code, as a client's Create
// would send it, after the defaults. It returns the API server's error.
func ValidatePolicy(ctx context.Context, tp *v1alpha1.TokenPolicy) error {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(tp)
	if err != nil {
		return err
	}
	obj["apiVersion"], obj["kind"] = v1alpha1.GroupVersion.String(), GroupKind.Kind
	return Admit(ctx, obj)
}

// ValidateIPList checks an IPList built in code, as ValidatePolicy does a
// TokenPolicy.
func ValidateIPList(ctx context.Context, l *v1alpha1.IPList) error {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(l)
	if err != nil {
		return err
	}
	obj["apiVersion"], obj["kind"] = v1alpha1.GroupVersion.String(), IPListGroupKind.Kind
	return Admit(ctx, obj)
}

// validate is the API server's create validation of a custom resource
// (customResourceStrategy.Validate), less the scale subresource, which
// neither kind has.
func validate(ctx context.Context, s *schema, obj map[string]any) field.ErrorList {
	errs := typeMeta(obj, s.kind)
	if len(errs) > 0 {
		return errs
	}
	errs = append(errs, objectMeta(obj)...)
	errs = append(errs, apiservervalidation.ValidateCustomResource(nil, obj, s.validator)...)
	errs = append(errs, schemaobjectmeta.Validate(ctx, nil, obj, s.structural, false)...)
	errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, s.structural, obj)...)
	if s.cel != nil {
		if blocking := blockingError(errs); blocking != nil {
			errs = append(errs, blocking)
		} else {
			celErrs, _ := s.cel.Validate(ctx, nil, s.structural, obj, nil, celconfig.RuntimeCELCostBudget)
			errs = append(errs, celErrs...)
		}
	}
	return errs
}

func typeMeta(obj map[string]any, want string) field.ErrorList {
	var errs field.ErrorList
	if kind, _ := obj["kind"].(string); kind != want {
		errs = append(errs, field.Invalid(field.NewPath("kind"), obj["kind"], "must be "+want))
	}
	if av, _ := obj["apiVersion"].(string); av != v1alpha1.GroupVersion.String() {
		errs = append(errs, field.Invalid(field.NewPath("apiVersion"), obj["apiVersion"], "must be "+v1alpha1.GroupVersion.String()))
	}
	return errs
}

// objectMeta checks the name and namespace as the API server does for a
// namespaced resource.
func objectMeta(obj map[string]any) field.ErrorList {
	meta, _, err := schemaobjectmeta.GetObjectMeta(obj, false)
	if err != nil {
		return field.ErrorList{field.Invalid(field.NewPath("metadata"), nil, err.Error())}
	}
	return apivalidation.ValidateObjectMeta(meta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
}

// blockingError is the API server's rule (hasBlockingErr): after a type,
// enum, length, count or required-field error, the CEL rules are not run,
// since they may assume what the schema guarantees.
func blockingError(errs field.ErrorList) *field.Error {
	for _, err := range errs {
		switch err.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			return field.Invalid(nil, nil, "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation")
		}
	}
	return nil
}

func name(obj map[string]any) string {
	if m, ok := obj["metadata"].(map[string]any); ok {
		if n, ok := m["name"].(string); ok {
			return n
		}
	}
	return ""
}
