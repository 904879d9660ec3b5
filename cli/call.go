package main

import (
	"context"

	"google.golang.org/protobuf/proto"

	"github.com/wslfwd/wslfwd/cli/output"
	"github.com/wslfwd/wslfwd/internal/controlclient"
)

// call runs one request against the daemon within --timeout and prints the
// response: as JSON with -o json, else with text. what names the request in
// errors ("list agents"). Every one-shot command goes through here, so they
// all connect, time out, explain failures and honour -o alike.
func call[Resp proto.Message](ctx context.Context, a *app, what string,
	rpc func(context.Context, *controlclient.Conn) (Resp, error), text func(Resp)) error {
	return a.withConn(func(c *controlclient.Conn) error {
		ctx, cancel := a.deadline(ctx)
		defer cancel()
		resp, err := rpc(ctx, c)
		if err != nil {
			return c.Explain(what, err)
		}
		if a.format == output.JSON {
			return output.WriteJSON(a.stdout, resp)
		}
		text(resp)
		return nil
	})
}
