package waitfor

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestCondWaitsUntilTrue(t *testing.T) {
	var n atomic.Int32
	go func() {
		for range 5 {
			time.Sleep(time.Millisecond)
			n.Add(1)
		}
	}()
	Cond(t, 10*time.Second, "five increments", func() bool { return n.Load() == 5 })
}

// fatalRecorder notes Fatalf instead of ending the test.
type fatalRecorder struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = format
	panic(f)
}

func TestCondFailsAfterDeadline(t *testing.T) {
	rec := &fatalRecorder{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil && r != rec {
				panic(r)
			}
		}()
		Cond(rec, 20*time.Millisecond, "never", func() bool { return false })
	}()
	if !rec.failed {
		t.Fatal("Cond returned although the condition never held")
	}
}
