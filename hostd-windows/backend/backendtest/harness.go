// Package backendtest is the conformance suite every backend passes, so
// the reconciler can rely on one behaviour whatever carries the forwards.
//
// The suite pins down what the Backend interface leaves open:
//
//   - A removal matches the whole entry. Removing a key that holds nothing
//     succeeds (removal is idempotent); removing a key that holds a
//     different target fails and leaves that entry as it is.
//   - Adding an entry that already exists fails with backend.ErrExists and
//     changes nothing (whoever made it, the caller did not know of it);
//     adding at a key that holds a different target (owned or not) fails
//     with backend.ErrPortInUse and leaves that entry as it is. A backend
//     never overwrites an entry.
//   - Entries with a zero port or without a valid connect address fail
//     one by one; an unsupported protocol fails with backend.ErrUnsupported.
//   - A failed change never hinders the rest of its batch, and Apply
//     reports exactly the changes that failed, with the entries as given.
//   - Close stops every goroutine the backend started. Entries of a
//     persisting backend survive Close and are listed by the next backend
//     the harness makes, with the connections they carry; a relay's end
//     with it, connections and all, and free their ports.
//     Durable says which of the two the backend is.
package backendtest

import (
	"net/netip"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// Harness describes a backend under test and what its environment allows.
//
// Run counts goroutines to check Close, so the tests that call it must not
// run in parallel with other tests of the same process.
type Harness struct {
	// New returns a ready backend. Every backend it returns for one test
	// shares one store: a persisting backend's new instance sees what an
	// earlier one left. The store holds only what the suite puts there
	// (and what Foreign adds). Run closes every backend it gets.
	New func(t *testing.T) backend.Backend

	// ListenAddr is the address the suite's entries listen on, such as
	// 127.0.0.1.
	ListenAddr netip.Addr

	// ConnectTarget returns an address for an entry to connect to, a
	// different one on each call. When CarriesTraffic is set it must
	// answer as an echo server for the protocol (see Echo); the harness
	// stops it when t ends.
	ConnectTarget func(t *testing.T, p backend.Protocol) netip.AddrPort

	// CarriesTraffic says the backend really forwards here, so the suite
	// sends data through its entries and binds their ports itself.
	CarriesTraffic bool

	// Protocols are the protocols the backend supports.
	Protocols []backend.Protocol

	// FreePort returns a port on ListenAddr that nothing uses, for TCP and
	// UDP alike.
	FreePort func(t *testing.T) uint16

	// Occupy, if set, makes something other than the backend hold a port
	// on ListenAddr for the protocol until t ends, and returns the port.
	// The suite then checks that adding there fails with ErrPortInUse.
	Occupy func(t *testing.T, p backend.Protocol) uint16

	// Foreign, if set, creates the entry in the backend's store as
	// someone other than the daemon would (a user's own portproxy rule),
	// and deletes it when t ends. The suite checks that List shows it and
	// that Apply leaves it alone.
	Foreign func(t *testing.T, e backend.Entry)

	// PersistsAcrossRestart says entries survive Close: true for
	// portproxy, false for the relay. The backend's Durable must say the
	// same.
	PersistsAcrossRestart bool
}

func (h Harness) check(t *testing.T) {
	t.Helper()
	switch {
	case h.New == nil, h.ConnectTarget == nil, h.FreePort == nil:
		t.Fatal("backendtest: Harness needs New, ConnectTarget and FreePort")
	case !h.ListenAddr.IsValid():
		t.Fatal("backendtest: Harness needs a ListenAddr")
	case len(h.Protocols) == 0:
		t.Fatal("backendtest: Harness needs at least one protocol")
	}
}
