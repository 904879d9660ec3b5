package portproxy

import (
	"strconv"
	"strings"
)

// PortRange is a range of ports Windows keeps for itself (Hyper-V, WinNAT
// and administrators reserve them); binding a port inside one fails.
type PortRange struct {
	Start uint16 `json:"start"`
	End   uint16 `json:"end"`
	// Administered marks a range an administrator added (netsh prints a
	// `*` after it).
	Administered bool `json:"administered,omitempty"`
}

// Contains reports whether port lies in the range.
func (r PortRange) Contains(port uint16) bool { return r.Start <= port && port <= r.End }

// ParseExcludedRanges parses the output of
// `netsh int ipv4 show excludedportrange protocol=tcp` (or ipv6). The
// titles are localised, so rows are found by structure: after a line of
// dashes, each line of two port numbers (and an optional `*`) is a range.
// Lines that do not fit are ignored.
func ParseExcludedRanges(text string) []PortRange {
	var out []PortRange
	inRows := false
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0:
			inRows = false
		case isDashes(fields):
			inRows = true
		case inRows:
			if r, ok := excludedRow(fields); ok {
				out = append(out, r)
			}
		}
	}
	return out
}

func excludedRow(f []string) (PortRange, bool) {
	if len(f) < 2 || len(f) > 3 || (len(f) == 3 && f[2] != "*") {
		return PortRange{}, false
	}
	start, err1 := strconv.ParseUint(f[0], 10, 16)
	end, err2 := strconv.ParseUint(f[1], 10, 16)
	if err1 != nil || err2 != nil || start > end {
		return PortRange{}, false
	}
	return PortRange{Start: uint16(start), End: uint16(end), Administered: len(f) == 3}, true
}
