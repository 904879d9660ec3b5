package server

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// The gRPC server's limits. Anyone on the host's loopback or the WSL
// network can connect without a token, so every one of them bounds what
// such a peer makes the daemon hold; SECURITY.md lists them.
const (
	// MaxConcurrentStreams bounds the calls open at once on one
	// connection. An agent needs one (its session), the CLI one call at a
	// time, a watcher one stream; 16 leaves room for probes and retries
	// while bounding the per-connection buffers (each stream may hold up
	// to a flow-control window of received data).
	MaxConcurrentStreams = 16
	// MaxHeaderListSize bounds one request's headers, in bytes. A token
	// is 64 characters and the other headers a few hundred bytes; gRPC's
	// default (16 MiB) let 16 header blocks take hundreds of MB. gRPC
	// hands it to the HTTP/2 framer, which enforces it while decoding: it
	// bounds any one string, stops keeping fields once a block passes it
	// (gRPC then resets the call) and closes the connection on a fragment
	// over twice what is left.
	MaxHeaderListSize = 8 << 10
	// ConnectionTimeout bounds the handshakes of a new connection, TLS
	// (transport.go) and HTTP/2 (the client preface and first SETTINGS
	// frame); gRPC's default is 120 s. Clients on loopback or the WSL
	// network finish in milliseconds.
	ConnectionTimeout = 5 * time.Second
	// ConnBufferSize is each connection's read buffer, and the write
	// buffer it borrows from a shared pool only while it writes. gRPC's
	// default gives every connection 32 KiB of each from accept on,
	// before any token is seen; agent changes and CLI calls are a few
	// hundred bytes, and a snapshot of a thousand listeners only takes
	// more reads. Under 18,000 connections without a token the daemon's
	// peak RSS went from 41 to 31 MiB.
	ConnBufferSize = 8 << 10
	// MinPingInterval is the fastest keepalive ping rate a client may
	// use before the server closes the connection (ping flooding). Agents
	// ping every 10 s, with or without streams.
	MinPingInterval = 5 * time.Second
	// MaxConnectionIdle closes a connection with no call in progress for
	// this long. The CLI opens one connection per command and agents
	// always hold their session stream, so only abandoned connections
	// reach it.
	MaxConnectionIdle = 2 * time.Minute
	// keepaliveTime and keepaliveTimeout find dead agents within
	// seconds: the server pings after 10 s of silence and gives up 5 s
	// later.
	keepaliveTime    = 10 * time.Second
	keepaliveTimeout = 5 * time.Second
)

// limitOptions are the gRPC server options for the limits above, and for
// maxRecvMsgSize.
func limitOptions(maxRecvMsgSize int) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxRecvMsgSize),
		grpc.ReadBufferSize(ConnBufferSize),
		grpc.WriteBufferSize(ConnBufferSize),
		grpc.SharedWriteBuffer(true),
		grpc.MaxConcurrentStreams(MaxConcurrentStreams),
		grpc.MaxHeaderListSize(MaxHeaderListSize),
		grpc.ConnectionTimeout(ConnectionTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:              keepaliveTime,
			Timeout:           keepaliveTimeout,
			MaxConnectionIdle: MaxConnectionIdle,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: MinPingInterval, PermitWithoutStream: true}),
	}
}
