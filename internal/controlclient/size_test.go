package controlclient

import (
	"context"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/replysize"
	"github.com/wslfwd/wslfwd/internal/token"
	"github.com/wslfwd/wslfwd/internal/tokentls"
)

// bigForwards answers ListForwards with at most n bytes of rows.
type bigForwards struct {
	wslfwdv1.UnimplementedControlServiceServer
	n int
}

func (b bigForwards) ListForwards(context.Context, *wslfwdv1.ListForwardsRequest) (*wslfwdv1.ListForwardsResponse, error) {
	row := &wslfwdv1.Forward{Reason: strings.Repeat("r", 1000)}
	resp := &wslfwdv1.ListForwardsResponse{}
	for range b.n / proto.Size(&wslfwdv1.ListForwardsResponse{Forwards: []*wslfwdv1.Forward{row}}) {
		resp.Forwards = append(resp.Forwards, row)
	}
	return resp, nil
}

// The client reads an answer as large as the daemon may send
// (replysize.Max), where gRPC's default stopped at 4 MiB: the forwards of
// a VM at its cap take more.
func TestClientReadsTheDaemonsLargestAnswer(t *testing.T) {
	tok, err := token.Generate()
	if err != nil {
		t.Fatal(err)
	}
	creds, err := tokentls.Server(nil, tok)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(creds))
	wslfwdv1.RegisterControlServiceServer(srv, bigForwards{n: replysize.Max})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)

	c, err := Dial(Target{Addr: ln.Addr().String(), Why: "test"}, tok, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	resp, err := c.ListForwards(context.Background(), &wslfwdv1.ListForwardsRequest{All: true})
	if err != nil {
		t.Fatalf("ListForwards of about %d bytes: %v", replysize.Max, err)
	}
	if len(resp.GetForwards()) == 0 {
		t.Fatal("no rows")
	}
}
