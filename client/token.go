package client

import (
	"context"
	"net/http"
)

// RevokeSelf revokes token with its own authority (PUT
// auth/token/revoke-self), so that a token the provider generated can be
// revoked without a second token that may revoke others. Sent once: a
// repeat after a lost answer would only meet the 403 of a revoked token.
func (c *Client) RevokeSelf(ctx context.Context, token string) error {
	_, err := c.logical(ctx, request{method: http.MethodPut, path: "auth/token/revoke-self", retry: retryNever, token: token, secrets: []string{token}})
	return err
}
