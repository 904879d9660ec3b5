package portproxy

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestWriteShowJSONEmptyAndForeign(t *testing.T) {
	for _, in := range []string{"", "\r\n", "\r\n\r\n", "Listen on ipv4:             Connect to ipv4:\r\n\r\nAddress Port Address Port\r\n--- --- --- ---\r\n"} {
		var out strings.Builder
		if err := WriteShowJSON(&out, []byte(in)); err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if !strings.Contains(out.String(), `"rows": []`) {
			t.Errorf("%q: printed %s, want empty rows as []", in, out.String())
		}
	}
	for _, in := range []string{
		"The requested operation requires elevation (Run as administrator).\r\n",
		"hello world",
		"Address Port Address Port\n------- ---- ------- ----\n0.0.0.0 80 1.2.3.4 80\n",
		"\x00\x01\x02garbage",
	} {
		var out strings.Builder
		err := WriteShowJSON(&out, []byte(in))
		if err == nil || !strings.Contains(err.Error(), "not `netsh interface portproxy show` output") {
			t.Errorf("%q: err = %v, want it called not netsh output", in, err)
		}
		if out.Len() != 0 {
			t.Errorf("%q: printed %q besides the error", in, out.String())
		}
	}
}

// Whatever the input, parse either refuses it or prints JSON whose rows
// are an array, never null.
func FuzzWriteShowJSON(f *testing.F) {
	for _, name := range []string{"show-single.txt", "show-all-kinds.txt"} {
		f.Add([]byte(readTestdata(f, name)))
	}
	f.Add([]byte(""))
	f.Add([]byte("\xff\xfeL\x00i\x00"))
	f.Add([]byte("garbage\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var out strings.Builder
		if err := WriteShowJSON(&out, in); err != nil {
			return
		}
		var got struct {
			Rows *[]json.RawMessage `json:"rows"`
		}
		if err := json.Unmarshal([]byte(out.String()), &got); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out.String())
		}
		if got.Rows == nil {
			t.Fatalf("rows missing or null:\n%s", out.String())
		}
	})
}
