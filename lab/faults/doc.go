// Package faults holds wslfwd's fault tests: the real daemon, agent and
// CLI, run in a netlab lab, while the test breaks things — it kills the
// agent and the daemon, moves and flaps the distro's address, churns
// listeners, cuts the network between agent and daemon, and fills or
// freezes the daemon's state directory — and then checks the final forward
// table exactly: every listener open in wsl is forwarded, nothing else is,
// and the relay's real sockets in winhost say the same.
//
// Each test builds its own topology and is bounded in time. They need root
// and Linux, and skip otherwise.
package faults
