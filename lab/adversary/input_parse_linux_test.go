//go:build linux

package adversary

import (
	"bytes"
	"strings"
	"testing"
)

// The real wslfwd-hostd portproxy parse refuses what is not netsh output
// and input past its cap, and prints an empty array, not null, for none.
func TestInputPortproxyParse(t *testing.T) {
	env := startLab(t)
	parse := func(in []byte) outcome {
		return runIn(t, env.Lab.WinHost, bytes.NewReader(in), nil, env.Bin.Daemon, "portproxy", "parse", "-")
	}
	wantRefused(t, "parse of garbage", parse([]byte("\x00\x01garbage that netsh never printed\n")), 1,
		"this is not `netsh interface portproxy show` output")
	wantRefused(t, "parse of an elevation message",
		parse([]byte("The requested operation requires elevation (Run as administrator).\r\n")), 1,
		"this is not `netsh interface portproxy show` output")
	wantRefused(t, "parse of 20 MB", parse(bytes.Repeat([]byte("Listen on ipv4: Connect to ipv4:\r\n"), 20<<20/34)), 1,
		"stdin is larger than 1024 KiB")
	o := parse([]byte("\r\n"))
	if o.code != 0 || strings.Join(strings.Fields(o.stdout), " ") != `{ "rows": [] }` {
		t.Errorf("parse of an empty show: exit %d, stdout %q, stderr %q; want {\"rows\": []}", o.code, o.stdout, o.stderr)
	}
}
