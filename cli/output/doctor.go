package output

import (
	"encoding/json"
	"fmt"
	"io"
)

// Verdict is the outcome of one doctor check.
type Verdict string

// Verdicts, from good to bad. SKIP means a check could not run because an
// earlier one failed.
const (
	Pass Verdict = "PASS"
	Warn Verdict = "WARN"
	Fail Verdict = "FAIL"
	Skip Verdict = "SKIP"
)

// Check is one doctor check: what was checked, what was found and, when it
// is not a pass, what to do.
type Check struct {
	Name    string  `json:"name"`
	Verdict Verdict `json:"verdict"`
	Detail  string  `json:"detail,omitempty"`
	Hint    string  `json:"hint,omitempty"`
}

// Doctor renders checks one per line, each hint on the line below.
func Doctor(w io.Writer, checks []Check) {
	for _, c := range checks {
		fmt.Fprintf(w, "%-4s  %s", c.Verdict, c.Name)
		if c.Detail != "" {
			fmt.Fprintf(w, ": %s", c.Detail)
		}
		fmt.Fprintln(w)
		if c.Hint != "" {
			fmt.Fprintf(w, "      fix: %s\n", c.Hint)
		}
	}
}

// DoctorReport is the JSON shape of doctor's output.
type DoctorReport struct {
	OK     bool    `json:"ok"`
	Checks []Check `json:"checks"`
}

// VersionReport is the JSON shape of version's output.
type VersionReport struct {
	CLIVersion    string `json:"cli_version"`
	DaemonAddress string `json:"daemon_address,omitempty"`
	DaemonVersion string `json:"daemon_version,omitempty"`
	DaemonError   string `json:"daemon_error,omitempty"`
}

// WritePlainJSON writes v (a report that is not a proto message) as one
// indented JSON document, in the same style as WriteJSON.
func WritePlainJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
