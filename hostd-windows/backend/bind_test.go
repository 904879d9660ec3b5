package backend_test

import (
	"errors"
	"net"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// TestBindRefusalPortInUse: a second listener on a held port is refused
// as ErrPortInUse, on Linux and on Windows alike; other errors name no
// cause.
func TestBindRefusalPortInUse(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = net.Listen("tcp4", l.Addr().String())
	if err == nil {
		t.Fatalf("a second listener on %s succeeded", l.Addr())
	}
	if got := backend.BindRefusal(err); got != backend.ErrPortInUse {
		t.Errorf("BindRefusal(%v) = %v, want ErrPortInUse", err, got)
	}
	for _, err := range []error{nil, errors.New("some other failure")} {
		if got := backend.BindRefusal(err); got != nil {
			t.Errorf("BindRefusal(%v) = %v, want nil", err, got)
		}
	}
}
