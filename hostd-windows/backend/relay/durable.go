package relay

// Durable reports false: the relay's forwards are sockets of the daemon's
// process and end with it, so the daemon keeps no ownership record of them
// on disk.
func (r *Relay) Durable() bool { return false }
