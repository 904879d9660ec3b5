//go:build linux

package netinv

import (
	"context"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Run subscribes to link, address and route changes of the inventory's
// namespace and calls wake after each; wake is expected to coalesce. It
// blocks until ctx is done. When the kernel drops notifications (a full
// socket buffer) the subscriptions are made again and wake is called, so
// a lost event never leaves the state stale. Run has the shape of
// trigger.Trigger.
func (inv *Inventory) Run(ctx context.Context, wake func()) error {
	for {
		if err := inv.watchOnce(ctx, wake); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		// A subscription ended without ctx being done: events may be lost.
		wake()
	}
}

// watchOnce runs one set of subscriptions until ctx is done or one of them
// ends.
func (inv *Inventory) watchOnce(ctx context.Context, wake func()) error {
	done := make(chan struct{})
	defer close(done)
	var nsp *netns.NsHandle
	if inv.ns.IsOpen() {
		nsp = &inv.ns
	}
	failed := make(chan struct{}, 1)
	onErr := func(error) {
		select {
		case failed <- struct{}{}:
		default:
		}
	}
	links := make(chan netlink.LinkUpdate, 64)
	addrs := make(chan netlink.AddrUpdate, 64)
	routes := make(chan netlink.RouteUpdate, 64)
	const rcvbuf = 1 << 20
	if err := netlink.LinkSubscribeWithOptions(links, done, netlink.LinkSubscribeOptions{
		Namespace: nsp, ErrorCallback: onErr, ReceiveBufferSize: rcvbuf,
	}); err != nil {
		return fmt.Errorf("subscribe to link changes: %w", err)
	}
	defer drain(links)
	if err := netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{
		Namespace: nsp, ErrorCallback: onErr, ReceiveBufferSize: rcvbuf,
	}); err != nil {
		return fmt.Errorf("subscribe to address changes: %w", err)
	}
	defer drain(addrs)
	if err := netlink.RouteSubscribeWithOptions(routes, done, netlink.RouteSubscribeOptions{
		Namespace: nsp, ErrorCallback: onErr, ReceiveBufferSize: rcvbuf,
	}); err != nil {
		return fmt.Errorf("subscribe to route changes: %w", err)
	}
	defer drain(routes)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-failed:
			return nil
		case _, ok := <-links:
			if !ok {
				return nil
			}
		case _, ok := <-addrs:
			if !ok {
				return nil
			}
		case _, ok := <-routes:
			if !ok {
				return nil
			}
		}
		wake()
	}
}

// drain empties ch until the subscription's goroutine closes it, so that
// goroutine never blocks on a send after the subscription was cancelled.
func drain[T any](ch <-chan T) {
	go func() {
		for range ch {
		}
	}()
}
