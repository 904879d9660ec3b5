//go:build linux

// Package nstest gives tests a network namespace of their own, so they can
// configure interfaces, routes and sockets without touching the host's.
package nstest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// New creates a named network namespace with a unique name, brings its
// loopback up and deletes it when the test ends. It skips the test when not
// root.
func New(t testing.TB) netns.NsHandle {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace")
	}
	var b [4]byte
	rand.Read(b[:])
	name := "wslfwd-t-" + hex.EncodeToString(b[:])

	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("get current namespace: %v", err)
	}
	defer orig.Close()
	ns, err := netns.NewNamed(name) // also switches this thread into it
	if err != nil {
		// NewNamed switches only after creating; restore to be safe.
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		t.Fatalf("create namespace %s: %v", name, err)
	}
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: Go discards it when the goroutine ends.
		t.Fatalf("return to the original namespace: %v", err)
	}
	runtime.UnlockOSThread()
	t.Cleanup(func() {
		ns.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete namespace %s: %v", name, err)
		}
	})

	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("netlink handle in %s: %v", name, err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatalf("find lo in %s: %v", name, err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatalf("bring lo up in %s: %v", name, err)
	}
	return ns
}

// Do runs fn on a thread switched into ns; sockets fn creates belong to ns
// and stay there after Do returns.
func Do(t testing.TB, ns netns.NsHandle, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("get current namespace: %v", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("enter namespace: %v", err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			// Keep the thread locked so it is discarded, never reused.
			t.Errorf("return to the original namespace: %v", err)
			return
		}
		runtime.UnlockOSThread()
	}()
	fn()
}
