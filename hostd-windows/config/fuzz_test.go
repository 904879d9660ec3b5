package config

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// FuzzParse: arbitrary bytes never panic, every problem is an *Error naming
// the file, and a line, when given, lies inside the input.
func FuzzParse(f *testing.F) {
	if example, err := os.ReadFile("example.toml"); err == nil {
		f.Add(example)
	}
	for _, s := range []string{
		"", "udp = 1", "deny_ports = [1, \"2-3\", 70000]", "[[remap]]\nport = 1\n[[remap]]\nx=1",
		"[distros.\"a.b\"]\nudp = false\n[distros.c]\nenabled = 3", "forward = [{port = 1, distro = \"x\"}, 3]",
		"a.b.c = 1", "[[forward.x]]\n[forward]", "listen = [\"[::1]:0\"]", "grace = \"1h\"\nx = [\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.toml", data)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("Parse accepted a config Validate rejects: %v", verr)
			}
			return
		}
		errs := Errors(err)
		if len(errs) == 0 {
			t.Fatalf("error %v has no *Error", err)
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, e := range errs {
			if !strings.HasPrefix(e.Error(), "f.toml") {
				t.Fatalf("error %q does not name the file", e)
			}
			if e.Line < 0 || e.Line > lines {
				t.Fatalf("error %q: line %d outside the input's %d lines", e, e.Line, lines)
			}
		}
	})
}
