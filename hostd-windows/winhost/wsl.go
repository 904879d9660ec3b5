package winhost

import (
	"fmt"
	"strings"

	"github.com/wslfwd/wslfwd/hostd-windows/winhost/wintext"
)

// Distro is one line of `wsl.exe -l -v`.
type Distro struct {
	Name    string `json:"name"`
	State   string `json:"state"` // as printed, localised: "Running", "Stopped", "Wird ausgeführt"
	Version int    `json:"version"`
	Default bool   `json:"default,omitempty"`
}

// Running reports whether the distro runs, for the English state text
// (the only one known here); other languages report false.
func (d Distro) Running() bool { return d.State == "Running" }

// ParseList parses the output of `wsl.exe -l -v` as it arrives: UTF-16LE
// with or without a byte order mark, or UTF-8 (WSL_UTF8=1). Its titles
// and states are localised, so a row is found by shape: an optional `*`
// (the default distro), the name (distro names have no spaces), the state
// (possibly several words), and the version 1 or 2 last. Output without
// any such row (no distros installed, an old wsl.exe without -v) is an
// error carrying the text.
func ParseList(out []byte) ([]Distro, error) {
	text := wintext.Decode(out)
	var ds []Distro
	for _, line := range strings.Split(text, "\n") {
		if d, ok := parseRow(strings.Fields(line)); ok {
			ds = append(ds, d)
		}
	}
	if len(ds) == 0 {
		msg := strings.Join(strings.Fields(text), " ")
		if msg == "" {
			msg = "(nothing)"
		}
		return nil, fmt.Errorf("wsl.exe -l -v listed no distros: %s", msg)
	}
	return ds, nil
}

func parseRow(f []string) (Distro, bool) {
	var d Distro
	if len(f) > 0 && f[0] == "*" {
		d.Default = true
		f = f[1:]
	}
	if len(f) < 3 {
		return Distro{}, false
	}
	switch f[len(f)-1] {
	case "1":
		d.Version = 1
	case "2":
		d.Version = 2
	default:
		return Distro{}, false
	}
	d.Name = f[0]
	d.State = strings.Join(f[1:len(f)-1], " ")
	return d, true
}
