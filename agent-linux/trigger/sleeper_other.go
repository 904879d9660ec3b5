//go:build !linux

package trigger

// platformSleeper returns Go's timers, and what releases them: nothing.
func platformSleeper() (Sleeper, func()) { return GoTimers{}, func() {} }
