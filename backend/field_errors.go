package backend

import (
	"context"
	"strconv"
	"strings"

	"github.com/hashicorp/vault/sdk/logical"
)

// fieldValidationPrefix starts the message framework.Backend answers when a
// field's value does not convert to the field's type (a negative duration,
// text for a number), before any handler of ours runs.
const fieldValidationPrefix = "Field validation failed: error converting input for field "

// HandleRequest serves a request through the framework and then puts the
// field first in the framework's own field-conversion errors, so that every
// mistake of the caller reads "<field>: <what is wrong>".
func (b *backend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	resp, err := b.Backend.HandleRequest(ctx, req)
	if resp != nil && resp.IsError() {
		if msg, ok := resp.Data["error"].(string); ok {
			resp.Data["error"] = fieldFirst(msg)
		}
	}
	return resp, err
}

// fieldFirst rewrites framework.FieldData.Validate's message
// `Field validation failed: error converting input for field "ttl": REASON`
// as `ttl: REASON`; any other message is returned as it is.
func fieldFirst(msg string) string {
	rest, ok := strings.CutPrefix(msg, fieldValidationPrefix)
	if !ok {
		return msg
	}
	quoted, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return msg
	}
	field, err := strconv.Unquote(quoted)
	if err != nil {
		return msg
	}
	reason, ok := strings.CutPrefix(rest[len(quoted):], ": ")
	if !ok {
		return msg
	}
	return field + ": " + reason
}
