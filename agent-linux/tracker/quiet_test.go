package tracker_test

import (
	"slices"
	"testing"

	"github.com/wslfwd/wslfwd/agent-linux/tracker"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// A full read that hands out the same messages as the last quiet one is
// taken as unchanged only while the listeners and the shown set are those
// it matched: a narrow read or a Show in between still makes the next full
// read count.
func TestQuietReadOnlyWhileNothingElseChanged(t *testing.T) {
	a, b, own := tcp("0.0.0.0", 22, 1, 5), tcp("0.0.0.0", 80, 2, 5), tcp("0.0.0.0", 9000, 3, 42)
	src := &partialSource{}
	src.set(netWith("10.0.0.1"), a, b, own)
	tr := tracker.New(tracker.Config{Source: src, SelfPID: 42})
	refresh := func(want ...uint64) {
		t.Helper()
		if err := tr.Refresh(); err != nil {
			t.Fatal(err)
		}
		st, _ := tr.Current()
		if got := keys(st); !slices.Equal(got, want) {
			t.Fatalf("after a full read: inodes %v, want %v", got, want)
		}
	}
	refresh(1, 2)
	refresh(1, 2) // quiet: found no change

	// A narrow TCP read that no longer finds b changes the listeners
	// without a full read.
	wakes := runNarrow(t, tr, wslfwdv1.Protocol_PROTOCOL_TCP)
	src.set(netWith("10.0.0.1"), a, own)
	_, changed := tr.Current()
	(<-wakes)()
	<-changed
	if st, _ := tr.Current(); !slices.Equal(keys(st), []uint64{1}) {
		t.Fatalf("after the narrow read: inodes %v, want [1]", keys(st))
	}

	// The same messages as the quiet read, against other listeners.
	src.set(netWith("10.0.0.1"), a, b, own)
	refresh(1, 2)
	refresh(1, 2)

	// The same messages, with the agent's own listener shown since.
	tr.Show(3)
	refresh(1, 2, 3)
}
