package auth

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/token"
)

// Policy document limits, checked before the text reaches the HCL parser.
// That parser recurses once per nesting level, and a stack overflow (a few
// million levels) kills the process: no recover() can catch it.
const (
	// maxPolicyBytes bounds a policy's text. Vault sets no limit of its own;
	// its default policy is 3 KiB and generated policies with hundreds of
	// paths stay far below this.
	maxPolicyBytes = 1 << 20
	// maxPolicyDepth bounds the nesting of brackets and braces outside
	// strings and comments. A policy needs 5 at most (JSON form with
	// allowed_parameters: {"path":{"x":{"allowed_parameters":{"k":[]}}}}).
	maxPolicyDepth = 32
	// maxPolicyOpeners bounds every '[' and '{' in the text, strings and
	// comments included. It caps the parser's recursion even where the
	// depth scan reads the text differently from the HCL lexer (string
	// interpolation, heredocs), at a depth its stack handles easily.
	maxPolicyOpeners = 1 << 16
)

// checkPolicyShape refuses policy texts over the size and nesting limits.
func checkPolicyShape(rules string) error {
	if len(rules) > maxPolicyBytes {
		return fmt.Errorf("the policy is %d bytes; the limit is %d bytes", len(rules), maxPolicyBytes)
	}
	if depth, line := policyDepth(rules); depth > maxPolicyDepth {
		return fmt.Errorf("brackets and braces nest deeper than the limit of %d levels (line %d)", maxPolicyDepth, line)
	}
	if n := strings.Count(rules, "[") + strings.Count(rules, "{"); n > maxPolicyOpeners {
		return fmt.Errorf("the policy has %d brackets and braces; the limit is %d", n, maxPolicyOpeners)
	}
	return nil
}

// policyDepth is the deepest nesting of [ and { outside strings and
// comments (HCL's "...", #, //, /* */; JSON's "..."), and the line where
// it first exceeds maxPolicyDepth. It stops counting once past the limit.
func policyDepth(s string) (deepest, line int) {
	depth := 0
	line = 1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\n':
			line++
		case c == '"':
			i = skipString(s, i+1)
		case c == '#' || (c == '/' && i+1 < len(s) && s[i+1] == '/'):
			for i < len(s) && s[i] != '\n' {
				i++
			}
			line++
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return deepest, line
			}
			line += strings.Count(s[i:i+2+end], "\n")
			i += end + 3
		case c == '[' || c == '{':
			depth++
			if depth > deepest {
				deepest = depth
			}
			if depth > maxPolicyDepth {
				return deepest, line
			}
		case c == ']' || c == '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return deepest, line
}

// skipString returns the index of the quote that ends the string whose
// text starts at i (or len(s)).
func skipString(s string, i int) int {
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(s)
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
	var doc map[string]any
	if json.Unmarshal([]byte(rules), &doc) != nil {
		return nil // not JSON: HCL's parser reports the syntax error
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
