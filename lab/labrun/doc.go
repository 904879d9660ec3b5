// Package labrun runs the real wslfwd programs in a netlab lab: it builds
// the daemon, the agent and the CLI from the work tree, starts the daemon
// in winhost with the relay backend and agents in wsl, and waits for what
// the tests and the demo expect by polling the daemon over gRPC from inside
// winhost. Every wait has a deadline, and a wait that fails says what it
// waited for and shows the tail of the daemon's and agents' logs.
// Linux only; it needs root.
package labrun
