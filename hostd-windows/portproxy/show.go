package portproxy

import (
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/internal/wintext"
)

// Shown is one row of `netsh interface portproxy show` output, kept as
// printed. Entry is set when the row is an entry wslfwd understands;
// otherwise Problem says why not (a port range such as "30000-50000", a
// `*` or host name address).
type Shown struct {
	Kind           Kind           `json:"kind"`
	ListenAddress  string         `json:"listen_address"`
	ListenPort     string         `json:"listen_port"`
	ConnectAddress string         `json:"connect_address"`
	ConnectPort    string         `json:"connect_port"`
	Entry          *backend.Entry `json:"entry,omitempty"`
	Problem        string         `json:"problem,omitempty"`
}

// Show is the parsed output of `netsh interface portproxy show all` (or
// of one table).
type Show struct {
	Rows []Shown `json:"rows"`
	// Skipped holds lines inside a table that are not rows, so a support
	// reader can see what was not understood.
	Skipped []string `json:"skipped,omitempty"`
}

// ParseShow parses `netsh interface portproxy show` output. The headers
// are localised ("Listen on ipv4:", "Escuchar en ipv4:"), so tables are
// found by their structure, never by English words: a table header is a
// line ending in ':' that holds exactly two "ipv4"/"ipv6" tokens (listen
// family, then connect family); the rows follow the line of dashes under
// the column titles, four fields each, until a blank line.
func ParseShow(text string) Show {
	var out Show
	var kind Kind
	inRows := false
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		fields := strings.Fields(line)
		if k, ok := tableHeader(line, fields); ok {
			kind, inRows = k, false
			continue
		}
		switch {
		case kind == "":
			// Outside any table: netsh's blank lines and messages.
		case len(fields) == 0:
			inRows = false
		case isDashes(fields):
			inRows = true
		case !inRows:
			// Column titles ("Address Port Address Port"), localised.
		case len(fields) == 4:
			out.Rows = append(out.Rows, shownRow(kind, fields))
		default:
			out.Skipped = append(out.Skipped, line)
		}
	}
	return out
}

// tableHeader reports whether the line opens a table, and which.
func tableHeader(line string, fields []string) (Kind, bool) {
	if !strings.HasSuffix(strings.TrimSpace(line), ":") {
		return "", false
	}
	var fam []string
	for _, f := range fields {
		switch strings.ToLower(strings.TrimSuffix(f, ":")) {
		case "ipv4":
			fam = append(fam, "4")
		case "ipv6":
			fam = append(fam, "6")
		}
	}
	if len(fam) != 2 {
		return "", false
	}
	return Kind("v" + fam[0] + "tov" + fam[1]), true
}

func isDashes(fields []string) bool {
	for _, f := range fields {
		if strings.Trim(f, "-") != "" {
			return false
		}
	}
	return true
}

func shownRow(kind Kind, f []string) Shown {
	r := Shown{Kind: kind, ListenAddress: f[0], ListenPort: f[1], ConnectAddress: f[2], ConnectPort: f[3]}
	e, err := rowEntry(r)
	if err != nil {
		r.Problem = err.Error()
	} else {
		r.Entry = &e
	}
	return r
}

// rowEntry reads a shown row as an entry, with the registry's rules.
func rowEntry(r Shown) (backend.Entry, error) {
	return ParseValue(Value{
		Kind: r.Kind,
		Name: r.ListenAddress + "/" + r.ListenPort,
		Data: r.ConnectAddress + "/" + r.ConnectPort,
	})
}

// WriteShowJSON parses `netsh interface portproxy show` output in any of
// the encodings Windows produces (a PowerShell redirect is UTF-16LE) and
// writes what it found as indented JSON, for `wslfwd-hostd portproxy
// parse`. No entries print as "rows": [] (netsh prints only blank lines
// then); text with no portproxy table at all is not netsh's output (a
// wrong file, an error message) and is an error, so a user or a script
// never mistakes it for "no entries".
func WriteShowJSON(w io.Writer, input []byte) error {
	text := wintext.Decode(input)
	sh := ParseShow(text)
	if !hasTable(text) && strings.TrimSpace(text) != "" {
		return errors.New("this is not `netsh interface portproxy show` output: it has no table header such as " +
			"\"Listen on ipv4:             Connect to ipv4:\"")
	}
	if sh.Rows == nil {
		sh.Rows = []Shown{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sh)
}

// hasTable reports whether text has a table header (see ParseShow).
func hasTable(text string) bool {
	for _, line := range strings.Split(text, "\n") {
		if _, ok := tableHeader(line, strings.Fields(line)); ok {
			return true
		}
	}
	return false
}
