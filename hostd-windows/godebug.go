// The daemon's listeners (the gRPC server's, the metrics endpoint's and the
// relay's forwards) are plain TCP, as they are on Windows, where the daemon
// runs. Go 1.24 made Linux listeners Multipath TCP by default: each listen
// then makes two sockets, every connection accepted from a plain-TCP peer
// runs through MPTCP's fallback path, and the lab would measure a daemon
// unlike the one users run.
//
//go:debug multipathtcp=0

package main
