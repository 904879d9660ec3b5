// Package upgrade tests that an upgrade keeps working what worked: the
// previous version's agent, daemon and CLI, built from git history, run in
// a netlab lab beside this version's: an old agent on the new daemon
// works, a new agent refuses the old daemon (which cannot prove it holds
// the token) and says so, and a daemon upgraded in place on its state
// directory keeps its static forwards and brings the automatic ones back. It needs root, Linux and a clone whose
// history holds the previous version (CI's full clone does; a shallow one
// skips and says so).
package upgrade
