// Package upgrade tests that an upgrade keeps working what worked: the
// previous version's agent and daemon, built from git history, run in a
// netlab lab beside this version's, in every adjacent pairing (an old
// agent on the new daemon, a new agent on the old daemon), and a daemon
// upgraded in place on its state directory keeps its static forwards and
// brings the automatic ones back. It needs root, Linux and a clone whose
// history holds the previous version (CI's full clone does; a shallow one
// skips and says so).
package upgrade
