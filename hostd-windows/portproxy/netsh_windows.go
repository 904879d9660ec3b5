package portproxy

import (
	"context"

	"github.com/wslfwd/wslfwd/internal/winexec"
)

// NetshRunner runs scripts with `netsh -f`, one process per script.
type NetshRunner struct{}

// Run runs the script. netsh's exit status is part of the output, not an
// error: it says nothing reliable about what happened.
func (NetshRunner) Run(ctx context.Context, script string) ([]byte, error) {
	return winexec.Netsh(ctx, script)
}

// ExcludedRanges lists the TCP port ranges Windows reserves for the
// family, from `netsh int ipv4|ipv6 show excludedportrange protocol=tcp`.
func ExcludedRanges(ctx context.Context, v6 bool) ([]PortRange, error) {
	fam := "ipv4"
	if v6 {
		fam = "ipv6"
	}
	out, err := winexec.Output(ctx, winexec.NetshPath(), "interface", fam, "show", "excludedportrange", "protocol=tcp")
	if err != nil {
		return nil, err
	}
	return ParseExcludedRanges(string(out)), nil
}
