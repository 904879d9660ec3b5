package parsecmd

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := New()
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(append([]string{"parse"}, args...))
	err := cmd.Execute()
	return out.String(), err
}

func TestParse(t *testing.T) {
	sample, err := os.ReadFile(filepath.Join("..", "testdata", "show-single.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"file":  {filepath.Join("..", "testdata", "show-single.txt")},
		"dash":  {"-"},
		"stdin": nil,
	} {
		t.Run(name, func(t *testing.T) {
			out, err := run(t, string(sample), args...)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Rows []struct {
					Kind       string `json:"kind"`
					ListenPort string `json:"listen_port"`
				} `json:"rows"`
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			if len(got.Rows) != 1 || got.Rows[0].Kind != "v4tov4" || got.Rows[0].ListenPort != "2222" {
				t.Errorf("rows = %+v", got.Rows)
			}
		})
	}
	if _, err := run(t, "", filepath.Join(t.TempDir(), "missing.txt")); err == nil {
		t.Error("a missing file gave no error")
	}
}

func TestParseNoRowsPrintsEmptyArray(t *testing.T) {
	out, err := run(t, "\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"rows\": []\n}\n"; out != want {
		t.Errorf("printed %q, want %q", out, want)
	}
}

func TestParseRefusesForeignInput(t *testing.T) {
	out, err := run(t, "this is not netsh\n")
	if err == nil || !strings.Contains(err.Error(), "not `netsh interface portproxy show` output") {
		t.Fatalf("err = %v, want it called not netsh output", err)
	}
	if strings.Contains(out, "rows") {
		t.Errorf("printed rows for foreign input: %s", out)
	}
}

// countingReader yields n bytes of netsh-like text without holding them,
// and counts what was read.
type countingReader struct{ left, read int }

func (c *countingReader) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	n := min(len(p), c.left)
	for i := range p[:n] {
		p[i] = ' '
	}
	c.left -= n
	c.read += n
	return n, nil
}

// A 20 MB input is refused after reading just past MaxInput, so memory
// stays bounded by the cap, not the input.
func TestParseCapsInput(t *testing.T) {
	src := &countingReader{left: 20 << 20}
	_, err := readInput(src, nil)
	if err == nil || !strings.Contains(err.Error(), "stdin is larger than 1024 KiB") {
		t.Fatalf("err = %v, want the size refusal", err)
	}
	if src.read > MaxInput+1 {
		t.Errorf("read %d bytes, want at most %d", src.read, MaxInput+1)
	}
	big := filepath.Join(t.TempDir(), "big.txt")
	if err := os.WriteFile(big, make([]byte, MaxInput+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "", big); err == nil || !strings.Contains(err.Error(), big+" is larger than 1024 KiB") {
		t.Errorf("big file: err = %v", err)
	}
	exact := filepath.Join(t.TempDir(), "exact.txt")
	if err := os.WriteFile(exact, []byte(strings.Repeat("\r\n", MaxInput/2)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "", exact); err != nil {
		t.Errorf("input of exactly MaxInput refused: %v", err)
	}
}
