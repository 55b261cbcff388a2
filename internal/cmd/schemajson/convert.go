package main

import (
	"context"
	"fmt"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/zclconf/go-cty/cty"
)

// formatVersion is the format_version Terraform 1.11 writes for
// `terraform providers schema -json`.
const formatVersion = "1.0"

// providerSchemas asks the provider server for its schema over the plugin
// protocol (GetProviderSchema, as Terraform does) and converts it.
func providerSchemas(ctx context.Context, address string, p func() provider.Provider) (*tfjson.ProviderSchemas, error) {
	server := providerserver.NewProtocol6(p())()
	resp, err := server.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		return nil, fmt.Errorf("GetProviderSchema: %w", err)
	}
	var problems []string
	for _, d := range resp.Diagnostics {
		if d.Severity == tfprotov6.DiagnosticSeverityError {
			problems = append(problems, d.Summary+": "+d.Detail)
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("GetProviderSchema: %s", strings.Join(problems, "; "))
	}
	ps := &tfjson.ProviderSchema{}
	if ps.ConfigSchema, err = convertSchema(resp.Provider); err != nil {
		return nil, fmt.Errorf("provider: %w", err)
	}
	for _, set := range []struct {
		kind string
		in   map[string]*tfprotov6.Schema
		out  *map[string]*tfjson.Schema
	}{
		{"resource", resp.ResourceSchemas, &ps.ResourceSchemas},
		{"data source", resp.DataSourceSchemas, &ps.DataSourceSchemas},
		{"ephemeral resource", resp.EphemeralResourceSchemas, &ps.EphemeralResourceSchemas},
	} {
		if len(set.in) == 0 {
			continue
		}
		*set.out = make(map[string]*tfjson.Schema, len(set.in))
		for name, s := range set.in {
			js, err := convertSchema(s)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", set.kind, name, err)
			}
			(*set.out)[name] = js
		}
	}
	if len(resp.Functions) > 0 || len(resp.ListResourceSchemas) > 0 || len(resp.ActionSchemas) > 0 {
		// Not used by this provider; refuse rather than render docs without them.
		return nil, fmt.Errorf("the provider declares functions, list resources or actions, which this program does not convert yet")
	}
	return &tfjson.ProviderSchemas{FormatVersion: formatVersion, Schemas: map[string]*tfjson.ProviderSchema{address: ps}}, nil
}

func convertSchema(s *tfprotov6.Schema) (*tfjson.Schema, error) {
	if s == nil {
		return nil, fmt.Errorf("no schema")
	}
	block, err := convertBlock(s.Block)
	if err != nil {
		return nil, err
	}
	return &tfjson.Schema{Version: uint64(s.Version), Block: block}, nil
}

func convertBlock(b *tfprotov6.SchemaBlock) (*tfjson.SchemaBlock, error) {
	out := &tfjson.SchemaBlock{
		Description:     b.Description,
		DescriptionKind: descriptionKind(b.DescriptionKind),
		Deprecated:      b.Deprecated,
	}
	if len(b.Attributes) > 0 {
		attrs, err := convertAttributes(b.Attributes)
		if err != nil {
			return nil, err
		}
		out.Attributes = attrs
	}
	for _, nb := range b.BlockTypes {
		inner, err := convertBlock(nb.Block)
		if err != nil {
			return nil, fmt.Errorf("block %s: %w", nb.TypeName, err)
		}
		mode, err := blockNesting(nb.Nesting)
		if err != nil {
			return nil, fmt.Errorf("block %s: %w", nb.TypeName, err)
		}
		if out.NestedBlocks == nil {
			out.NestedBlocks = map[string]*tfjson.SchemaBlockType{}
		}
		out.NestedBlocks[nb.TypeName] = &tfjson.SchemaBlockType{
			NestingMode: mode, Block: inner, MinItems: uint64(nb.MinItems), MaxItems: uint64(nb.MaxItems),
		}
	}
	return out, nil
}

func convertAttributes(in []*tfprotov6.SchemaAttribute) (map[string]*tfjson.SchemaAttribute, error) {
	out := make(map[string]*tfjson.SchemaAttribute, len(in))
	for _, a := range in {
		ja := &tfjson.SchemaAttribute{
			Description:     a.Description,
			DescriptionKind: descriptionKind(a.DescriptionKind),
			Deprecated:      a.Deprecated,
			Required:        a.Required,
			Optional:        a.Optional,
			Computed:        a.Computed,
			Sensitive:       a.Sensitive,
			WriteOnly:       a.WriteOnly,
		}
		switch {
		case a.NestedType != nil:
			nested, err := convertAttributes(a.NestedType.Attributes)
			if err != nil {
				return nil, fmt.Errorf("attribute %s: %w", a.Name, err)
			}
			mode, err := objectNesting(a.NestedType.Nesting)
			if err != nil {
				return nil, fmt.Errorf("attribute %s: %w", a.Name, err)
			}
			ja.AttributeNestedType = &tfjson.SchemaNestedAttributeType{Attributes: nested, NestingMode: mode}
		case a.Type != nil:
			ty, err := ctyType(a.Type)
			if err != nil {
				return nil, fmt.Errorf("attribute %s: %w", a.Name, err)
			}
			ja.AttributeType = ty
		default:
			return nil, fmt.Errorf("attribute %s has neither a type nor a nested type", a.Name)
		}
		out[a.Name] = ja
	}
	return out, nil
}

// ctyType converts a plugin-protocol type to the cty type Terraform's JSON
// is written from (tftypes' own JSON encoding is not for third parties).
func ctyType(t tftypes.Type) (cty.Type, error) {
	switch {
	case t.Is(tftypes.String):
		return cty.String, nil
	case t.Is(tftypes.Number):
		return cty.Number, nil
	case t.Is(tftypes.Bool):
		return cty.Bool, nil
	case t.Is(tftypes.DynamicPseudoType):
		return cty.DynamicPseudoType, nil
	}
	switch tt := t.(type) {
	case tftypes.List:
		el, err := ctyType(tt.ElementType)
		return cty.List(el), err
	case tftypes.Set:
		el, err := ctyType(tt.ElementType)
		return cty.Set(el), err
	case tftypes.Map:
		el, err := ctyType(tt.ElementType)
		return cty.Map(el), err
	case tftypes.Tuple:
		els := make([]cty.Type, len(tt.ElementTypes))
		for i, e := range tt.ElementTypes {
			var err error
			if els[i], err = ctyType(e); err != nil {
				return cty.NilType, err
			}
		}
		return cty.Tuple(els), nil
	case tftypes.Object:
		attrs := make(map[string]cty.Type, len(tt.AttributeTypes))
		for name, a := range tt.AttributeTypes {
			var err error
			if attrs[name], err = ctyType(a); err != nil {
				return cty.NilType, err
			}
		}
		var optional []string
		for name := range tt.OptionalAttributes {
			optional = append(optional, name)
		}
		if len(optional) > 0 {
			return cty.ObjectWithOptionalAttrs(attrs, optional), nil
		}
		return cty.Object(attrs), nil
	}
	return cty.NilType, fmt.Errorf("unsupported type %s", t)
}

// descriptionKind is what Terraform writes: "markdown" or "plain".
func descriptionKind(k tfprotov6.StringKind) tfjson.SchemaDescriptionKind {
	if k == tfprotov6.StringKindMarkdown {
		return tfjson.SchemaDescriptionKindMarkdown
	}
	return tfjson.SchemaDescriptionKindPlain
}

func objectNesting(m tfprotov6.SchemaObjectNestingMode) (tfjson.SchemaNestingMode, error) {
	switch m {
	case tfprotov6.SchemaObjectNestingModeSingle:
		return tfjson.SchemaNestingModeSingle, nil
	case tfprotov6.SchemaObjectNestingModeList:
		return tfjson.SchemaNestingModeList, nil
	case tfprotov6.SchemaObjectNestingModeSet:
		return tfjson.SchemaNestingModeSet, nil
	case tfprotov6.SchemaObjectNestingModeMap:
		return tfjson.SchemaNestingModeMap, nil
	}
	return "", fmt.Errorf("unknown nested attribute nesting mode %v", m)
}

func blockNesting(m tfprotov6.SchemaNestedBlockNestingMode) (tfjson.SchemaNestingMode, error) {
	switch m {
	case tfprotov6.SchemaNestedBlockNestingModeSingle:
		return tfjson.SchemaNestingModeSingle, nil
	case tfprotov6.SchemaNestedBlockNestingModeList:
		return tfjson.SchemaNestingModeList, nil
	case tfprotov6.SchemaNestedBlockNestingModeSet:
		return tfjson.SchemaNestingModeSet, nil
	case tfprotov6.SchemaNestedBlockNestingModeMap:
		return tfjson.SchemaNestingModeMap, nil
	case tfprotov6.SchemaNestedBlockNestingModeGroup:
		return tfjson.SchemaNestingModeGroup, nil
	}
	return "", fmt.Errorf("unknown block nesting mode %v", m)
}
