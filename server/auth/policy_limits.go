package auth

import (
	"encoding/json"
	"fmt"

	"github.com/hashicorp/hcl/hcl/ast"
	hclscanner "github.com/hashicorp/hcl/hcl/scanner"
	"github.com/hashicorp/hcl/hcl/token"
	jsonscanner "github.com/hashicorp/hcl/json/scanner"
	jsontoken "github.com/hashicorp/hcl/json/token"
)

// Policy document limits, checked before the text reaches the HCL parser.
// That parser recurses once per nesting level: a few million levels overflow
// the goroutine stack, which kills the process (no recover() catches it),
// and unclosed nesting costs it time superlinear in the depth (8000 levels:
// ~5 s).
const (
	// maxPolicyBytes bounds a policy's text. Vault sets no limit of its own;
	// its default policy is 3 KiB and generated policies with hundreds of
	// paths stay far below this.
	maxPolicyBytes = 1 << 20
	// maxPolicyDepth bounds the nesting of brackets and braces. A policy
	// needs 5 at most (JSON form with allowed_parameters:
	// {"path":{"x":{"allowed_parameters":{"k":[]}}}}).
	maxPolicyDepth = 32
)

// checkPolicyShape refuses policy texts over the size and nesting limits,
// and unbalanced ones, before they are parsed.
func checkPolicyShape(rules string, isJSON bool) error {
	if len(rules) > maxPolicyBytes {
		return fmt.Errorf("the policy is %d bytes; the limit is %d bytes", len(rules), maxPolicyBytes)
	}
	return checkNesting(bracketTokens(rules, isJSON))
}

// bracket is one of [ ] { } as the parser's own lexer sees it.
type bracket struct {
	open bool
	line int
}

// bracketTokens runs the lexer the parser will use (HCL's or its JSON
// one) and yields the brackets and braces it finds. Strings, comments and
// heredocs are skipped exactly as the parser skips them, and the lexer is
// iterative: this costs time linear in the text and no stack.
func bracketTokens(rules string, isJSON bool) func(yield func(bracket) bool) {
	return func(yield func(bracket) bool) {
		if isJSON {
			sc := jsonscanner.New([]byte(rules))
			sc.Error = func(jsontoken.Pos, string) {} // the parser reports them
			for tok := sc.Scan(); tok.Type != jsontoken.EOF; tok = sc.Scan() {
				switch tok.Type {
				case jsontoken.LBRACK, jsontoken.LBRACE, jsontoken.RBRACK, jsontoken.RBRACE:
					if !yield(bracket{open: tok.Type == jsontoken.LBRACK || tok.Type == jsontoken.LBRACE, line: tok.Pos.Line}) {
						return
					}
				}
			}
			return
		}
		sc := hclscanner.New([]byte(rules))
		sc.Error = func(token.Pos, string) {} // the parser reports them
		for tok := sc.Scan(); tok.Type != token.EOF; tok = sc.Scan() {
			switch tok.Type {
			case token.LBRACK, token.LBRACE, token.RBRACK, token.RBRACE:
				if !yield(bracket{open: tok.Type == token.LBRACK || tok.Type == token.LBRACE, line: tok.Pos.Line}) {
					return
				}
			}
		}
	}
}

// checkNesting refuses nesting deeper than maxPolicyDepth and brackets
// that do not balance (the parser's slow path).
func checkNesting(brackets func(yield func(bracket) bool)) error {
	depth, lastOpen := 0, 0
	for b := range brackets {
		if !b.open {
			if depth == 0 {
				return fmt.Errorf("unexpected closing bracket or brace on line %d", b.line)
			}
			depth--
			continue
		}
		depth++
		lastOpen = b.line
		if depth > maxPolicyDepth {
			return fmt.Errorf("brackets and braces nest deeper than the limit of %d levels (line %d)", maxPolicyDepth, b.line)
		}
	}
	if depth > 0 {
		return fmt.Errorf("a bracket or brace opened on line %d or before is never closed", lastOpen)
	}
	return nil
}

// checkPathBlockValues requires capabilities to be a flat list of strings
// and policy to be a string, in HCL and JSON alike. HCL's decoder would
// otherwise flatten nonsense such as [["read"]] into a valid list.
func checkPathBlockValues(key string, obj *ast.ObjectType) error {
	for _, it := range obj.List.Items {
		k, _ := keyString(it, 0)
		switch k {
		case "capabilities":
			list, ok := it.Val.(*ast.ListType)
			if !ok {
				return fmt.Errorf("path %q: capabilities on line %d must be a list of strings such as [\"read\"]", key, it.Pos().Line)
			}
			for _, e := range list.List {
				if !isStringLiteral(e) {
					return fmt.Errorf("path %q: capabilities on line %d must be a flat list of strings such as [\"read\"]", key, e.Pos().Line)
				}
			}
		case "policy":
			if !isStringLiteral(it.Val) {
				return fmt.Errorf("path %q: policy on line %d must be a string (deny, read, write or sudo)", key, it.Pos().Line)
			}
		}
	}
	return nil
}

func isStringLiteral(n ast.Node) bool {
	lit, ok := n.(*ast.LiteralType)
	return ok && lit.Token.Type == token.STRING
}

// checkJSONPolicy applies checkPathBlockValues's rules to the JSON form
// before HCL reads it: HCL's JSON parser flattens nested lists, so
// [["read"]] would reach the AST as ["read"]. The text is within
// maxPolicyDepth here, so decoding it is cheap.
func checkJSONPolicy(rules string) error {
	text := []byte(rules)
	if !json.Valid(text) {
		return nil // HCL's parser reports the syntax error, with its position
	}
	var doc map[string]any
	if err := json.Unmarshal(text, &doc); err != nil {
		return fmt.Errorf("the policy is not a JSON object: %w", err)
	}
	return checkJSONPaths(doc["path"])
}

// checkJSONPaths walks a "path" value: an object of pattern → block, or a
// list of such objects.
func checkJSONPaths(v any) error {
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			if err := checkJSONPaths(e); err != nil {
				return err
			}
		}
	case map[string]any:
		for pattern, blk := range t {
			if err := checkJSONBlock(pattern, blk); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkJSONBlock(pattern string, v any) error {
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			if err := checkJSONBlock(pattern, e); err != nil {
				return err
			}
		}
	case map[string]any:
		if caps, ok := t["capabilities"]; ok {
			list, isList := caps.([]any)
			if !isList {
				return fmt.Errorf("path %q: capabilities must be a list of strings such as [\"read\"]", pattern)
			}
			for _, c := range list {
				if _, isString := c.(string); !isString {
					return fmt.Errorf("path %q: capabilities must be a flat list of strings such as [\"read\"]", pattern)
				}
			}
		}
		if pol, ok := t["policy"]; ok {
			if _, isString := pol.(string); !isString {
				return fmt.Errorf("path %q: policy must be a string (deny, read, write or sudo)", pattern)
			}
		}
	}
	return nil
}
