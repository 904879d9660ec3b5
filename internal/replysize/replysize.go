// Package replysize is the size of one ControlService answer that the
// daemon and its clients agree on: the daemon keeps its answers within it
// and the CLI accepts up to it (gRPC's default stops at 4 MiB).
//
// The one answer whose size follows what agents report is ListForwards'.
// The registry caps the ports each VM may have forwarded at
// max_listeners_per_agent, so at the default of 4,096, two sources
// (loopback and the WSL VM), IPv4 and IPv6 rows and the widest fields the
// daemon accepts (names of 64 bytes, IPv6 addresses), the forwarded rows
// take about 4.3 MB: past gRPC's default, well within Max. Rows of
// listeners not forwarded have no such bound (64 agents of 4,096
// listeners each), so the daemon leaves out what does not fit, and says
// how many (ListForwardsResponse.omitted).
package replysize

// Max bounds one encoded ControlService answer, in bytes.
const Max = 8 << 20
