package parsecmd

import (
	"encoding/json"
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
