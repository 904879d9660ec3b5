package output

import "io"

// SetupRow is one distro in the table `wslfwd setup` ends with.
type SetupRow struct {
	Distro  string
	Version string // the agent's, as it said in its hello
	Mode    string // its networking mode
	Status  string // "connected", or why not
}

// Setup prints setup's table: distro, agent version, mode, and whether
// the agent is connected or why not.
func Setup(w io.Writer, rows []SetupRow) {
	t := newTable(w)
	t.row("DISTRO", "AGENT", "MODE", "STATUS")
	for _, r := range rows {
		t.row(r.Distro, r.Version, r.Mode, r.Status)
	}
	t.flush()
}
