package portproxy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

func TestParseValue(t *testing.T) {
	tests := []struct {
		v    Value
		want backend.Entry // zero: an error is wanted
	}{
		{Value{Kind: V4ToV4, Name: "0.0.0.0/4000", Data: "172.28.240.53/4000"}, tcp("0.0.0.0:4000", "172.28.240.53:4000")},
		{Value{Kind: V6ToV4, Name: "::/80", Data: "172.28.240.53/8080"}, tcp("[::]:80", "172.28.240.53:8080")},
		{Value{Kind: V4ToV6, Name: "10.2.3.1/22", Data: "fd00::53/22"}, tcp("10.2.3.1:22", "[fd00::53]:22")},
		{Value{Kind: V6ToV6, Name: "fd00::1/65535", Data: "::1/1"}, tcp("[fd00::1]:65535", "[::1]:1")},
		// Odd values seen in the wild or possible with netsh.
		{Value{Kind: V4ToV4, Name: "0.0.0.0/30000-50000", Data: "172.23.188.236/30000-50000"}, backend.Entry{}},
		{Value{Kind: V4ToV4, Name: "*/8080", Data: "172.28.240.53/80"}, backend.Entry{}},
		{Value{Kind: V4ToV4, Name: "0.0.0.0/8080", Data: "localhost/80"}, backend.Entry{}},
		{Value{Kind: V4ToV4, Name: "0.0.0.0/0", Data: "1.2.3.4/80"}, backend.Entry{}},
		{Value{Kind: V4ToV4, Name: "0.0.0.0/65536", Data: "1.2.3.4/80"}, backend.Entry{}},
		{Value{Kind: V4ToV4, Name: "0.0.0.0/080", Data: "1.2.3.4/80"}, backend.Entry{}},
		{Value{Kind: V4ToV4, Name: "0.0.0.0/+80", Data: "1.2.3.4/80"}, backend.Entry{}},
		{Value{Kind: V4ToV4, Name: "0.0.0.0/80", Data: "1.2.3.4/"}, backend.Entry{}},
		{Value{Kind: V4ToV4, Name: "0.0.0.0/80", Data: ""}, backend.Entry{}},
		{Value{Kind: V4ToV4, Name: "0.0.0.0", Data: "1.2.3.4/80"}, backend.Entry{}},
		{Value{Kind: V4ToV4, Name: "::/80", Data: "1.2.3.4/80"}, backend.Entry{}},
		{Value{Kind: V6ToV4, Name: "0.0.0.0/80", Data: "1.2.3.4/80"}, backend.Entry{}},
		{Value{Kind: V6ToV6, Name: "::ffff:1.2.3.4/80", Data: "::1/80"}, backend.Entry{}},
		{Value{Kind: V6ToV6, Name: "fe80::1%5/80", Data: "::1/80"}, backend.Entry{}},
		{Value{Kind: V6ToV6, Name: "::0/80", Data: "::1/80"}, backend.Entry{}},
		{Value{Kind: V6ToV6, Name: "FD00::1/80", Data: "::1/80"}, backend.Entry{}},
		{Value{Kind: "v4tov5", Name: "0.0.0.0/80", Data: "1.2.3.4/80"}, backend.Entry{}},
		{Value{Kind: V4ToV4, Name: "0.0.0.0/80", Problem: "value type REG_DWORD, not REG_SZ"}, backend.Entry{}},
	}
	for _, tt := range tests {
		got, err := ParseValue(tt.v)
		if tt.want == (backend.Entry{}) {
			if err == nil {
				t.Errorf("ParseValue(%+v) = %v, want an error", tt.v, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseValue(%+v) = %v, %v; want %v", tt.v, got, err, tt.want)
		}
	}
}

func TestSort(t *testing.T) {
	values := []Value{
		{Kind: V4ToV4, Name: "0.0.0.0/4000", Data: "172.28.240.53/4000"},
		{Kind: V4ToV4, Name: "0.0.0.0/30000-50000", Data: "172.23.188.236/30000-50000"},
		{Kind: V4ToV4, Name: "10.2.3.1/80", Data: "172.28.240.53/80"},
		{Kind: V4ToV6, Name: "10.2.3.1/80", Data: "fd00::53/80"}, // same key as above
		{Kind: V6ToV4, Name: "::/4000", Data: "172.28.240.53/4000"},
	}
	got := Sort(values)
	wantEntries := []backend.Entry{tcp("0.0.0.0:4000", "172.28.240.53:4000"), tcp("[::]:4000", "172.28.240.53:4000")}
	if !reflect.DeepEqual(got.Entries, wantEntries) {
		t.Errorf("entries = %v, want %v", got.Entries, wantEntries)
	}
	var names []string
	for _, u := range got.Unparsed {
		if u.Reason == "" {
			t.Errorf("unparsed %+v has no reason", u)
		}
		names = append(names, string(u.Kind)+" "+u.Name)
	}
	want := []string{"v4tov4 0.0.0.0/30000-50000", "v4tov6 10.2.3.1/80", "v4tov4 10.2.3.1/80"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("unparsed = %q, want %q", names, want)
	}
}

func FuzzParseValue(f *testing.F) {
	f.Add("v4tov4", "0.0.0.0/4000", "172.28.240.53/4000")
	f.Add("v4tov4", "0.0.0.0/30000-50000", "172.23.188.236/30000-50000")
	f.Add("v6tov4", "::/80", "172.28.240.53/80")
	f.Add("v6tov6", "*/80", "localhost/80")
	f.Fuzz(func(t *testing.T, kind, name, data string) {
		e, err := ParseValue(Value{Kind: Kind(kind), Name: name, Data: data})
		if err != nil {
			return
		}
		// Whatever parses renders back to the same value, and so is safe
		// to delete by the rendered listen address and port.
		if v := valueOf(e); v.Kind != Kind(kind) || v.Name != name || v.Data != data {
			t.Fatalf("ParseValue(%q, %q, %q) = %v, renders back as %+v", kind, name, data, e, v)
		}
		if err := checkEntry(e); err != nil && !e.Connect.Addr().IsUnspecified() {
			t.Fatalf("parsed entry %v cannot be rendered: %v", e, err)
		}
	})
}

func readTestdata(t testing.TB, name string) string {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ptr(e backend.Entry) *backend.Entry { return &e }

func TestParseShow(t *testing.T) {
	tests := []struct {
		file string
		want []Shown
	}{
		{"show-range.txt", []Shown{{
			Kind: V4ToV4, ListenAddress: "0.0.0.0", ListenPort: "30000-50000",
			ConnectAddress: "172.23.188.236", ConnectPort: "30000-50000",
			Problem: `listen "0.0.0.0/30000-50000": port "30000-50000" is not a decimal number 1-65535`,
		}}},
		{"show-single.txt", []Shown{{
			Kind: V4ToV4, ListenAddress: "192.168.226.64", ListenPort: "2222",
			ConnectAddress: "10.4.226.215", ConnectPort: "22",
			Entry: ptr(tcp("192.168.226.64:2222", "10.4.226.215:22")),
		}}},
		{"show-spanish.txt", []Shown{{
			Kind: V4ToV4, ListenAddress: "0.0.0.0", ListenPort: "4000",
			ConnectAddress: "172.28.240.53", ConnectPort: "4000",
			Entry: ptr(tcp("0.0.0.0:4000", "172.28.240.53:4000")),
		}}},
		{"show-all-kinds.txt", []Shown{
			{Kind: V4ToV4, ListenAddress: "0.0.0.0", ListenPort: "4000", ConnectAddress: "172.28.240.53", ConnectPort: "4000",
				Entry: ptr(tcp("0.0.0.0:4000", "172.28.240.53:4000"))},
			{Kind: V4ToV4, ListenAddress: "*", ListenPort: "8080", ConnectAddress: "localhost", ConnectPort: "80",
				Problem: `listen "*/8080": address "*" is not a literal IP address`},
			{Kind: V4ToV6, ListenAddress: "0.0.0.0", ListenPort: "4001", ConnectAddress: "fd00::53", ConnectPort: "4001",
				Entry: ptr(tcp("0.0.0.0:4001", "[fd00::53]:4001"))},
			{Kind: V6ToV4, ListenAddress: "::", ListenPort: "4000", ConnectAddress: "172.28.240.53", ConnectPort: "4000",
				Entry: ptr(tcp("[::]:4000", "172.28.240.53:4000"))},
			{Kind: V6ToV6, ListenAddress: "::1", ListenPort: "5000", ConnectAddress: "::1", ConnectPort: "5001",
				Entry: ptr(tcp("[::1]:5000", "[::1]:5001"))},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := ParseShow(readTestdata(t, tt.file))
			if !reflect.DeepEqual(got.Rows, tt.want) {
				t.Errorf("rows:\n got %+v\nwant %+v", got.Rows, tt.want)
			}
			if len(got.Skipped) != 0 {
				t.Errorf("skipped %q", got.Skipped)
			}
		})
	}
}

func TestParseShowOdd(t *testing.T) {
	tests := []struct {
		name        string
		text        string
		wantRows    int
		wantSkipped int
	}{
		{"empty", "", 0, 0},
		{"nothing configured", "\r\n", 0, 0},
		{"elevation message", "The requested operation requires elevation (Run as administrator).\r\n", 0, 0},
		{"rows without a header are not trusted",
			"Address Port Address Port\n------- ---- ------- ----\n0.0.0.0 80 1.2.3.4 80\n", 0, 0},
		{"short row is skipped",
			"Listen on ipv4: Connect to ipv4:\n\nAddress Port Address Port\n--- --- --- ---\n0.0.0.0 80 1.2.3.4\n0.0.0.0 81 1.2.3.4 81\n", 1, 1},
		{"upper-case family tokens, no blank line before titles",
			"Listen on IPV6: Connect to IPV4:\nAddress Port Address Port\n---- ---- ---- ----\n:: 80 1.2.3.4 80\n", 1, 0},
		{"second header restarts",
			"Listen on ipv4: Connect to ipv4:\n--- ---\n0.0.0.0 80 1.2.3.4 80\nListen on ipv6: Connect to ipv6:\n--- ---\n:: 80 ::1 80\n", 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseShow(tt.text)
			if len(got.Rows) != tt.wantRows || len(got.Skipped) != tt.wantSkipped {
				t.Errorf("ParseShow(%q) = %+v, want %d rows and %d skipped", tt.text, got, tt.wantRows, tt.wantSkipped)
			}
		})
	}
}

func FuzzParseShow(f *testing.F) {
	for _, name := range []string{"show-range.txt", "show-single.txt", "show-spanish.txt", "show-all-kinds.txt"} {
		f.Add(readTestdata(f, name))
	}
	f.Add("Listen on ipv4: Connect to ipv6:\n---\n* 80 localhost 80\n")
	f.Fuzz(func(t *testing.T, text string) {
		got := ParseShow(text)
		for _, r := range got.Rows {
			if (r.Entry == nil) == (r.Problem == "") {
				t.Fatalf("row %+v: exactly one of entry and problem must be set", r)
			}
			if r.Entry != nil && KindOf(r.Entry.Listen.Addr(), r.Entry.Connect.Addr()) != r.Kind {
				t.Fatalf("row %+v: entry does not match its table", r)
			}
		}
	})
}

func TestParseExcludedRanges(t *testing.T) {
	const english = "\r\nProtocol tcp Port Exclusion Ranges\r\n\r\nStart Port    End Port\r\n----------    --------\r\n      1042        1141\r\n      5357        5357\r\n     50000       50059     *\r\n\r\n* - Administered port exclusions.\r\n\r\n"
	const german = "\r\nProtokoll tcp Portausschlussbereiche\r\n\r\nStartport    Endport\r\n----------    --------\r\n     49709       49808\r\n\r\n* - Verwaltete Portausschlüsse.\r\n"
	tests := []struct {
		name string
		text string
		want []PortRange
	}{
		{"english", english, []PortRange{{1042, 1141, false}, {5357, 5357, false}, {50000, 50059, true}}},
		{"german", german, []PortRange{{49709, 49808, false}}},
		{"none", "\r\nProtocol tcp Port Exclusion Ranges\r\n\r\nStart Port    End Port\r\n----------    --------\r\n\r\n* - Administered port exclusions.\r\n", nil},
		{"empty (wine)", "", nil},
		{"bad rows ignored", "---- ----\n10 5\n1 70000\n1 2 3\nx y\n7 8 *\n", []PortRange{{7, 8, true}}},
		{"numbers before dashes ignored", "1 2\n---\n3 4\n", []PortRange{{3, 4, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseExcludedRanges(tt.text); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseExcludedRanges(f *testing.F) {
	f.Add("Start Port    End Port\r\n----------    --------\r\n      1042        1141\r\n     50000       50059     *\r\n")
	f.Add("---\n10 5\n")
	f.Fuzz(func(t *testing.T, text string) {
		for _, r := range ParseExcludedRanges(text) {
			if r.Start > r.End {
				t.Fatalf("range %+v is inverted", r)
			}
			if !strings.Contains(text, "-") {
				t.Fatalf("range %+v found without a dashes line", r)
			}
		}
	})
}

func TestWriteShowJSON(t *testing.T) {
	// As a PowerShell `>` redirect saves it: UTF-16LE with a BOM.
	text := readTestdata(t, "show-single.txt")
	in := []byte{0xFF, 0xFE}
	for _, r := range text {
		in = append(in, byte(r), 0)
	}
	var out strings.Builder
	if err := WriteShowJSON(&out, in); err != nil {
		t.Fatal(err)
	}
	var got Show
	if err := json.Unmarshal([]byte(out.String()), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	want := ParseShow(text)
	if !reflect.DeepEqual(got, want) || len(got.Rows) != 1 {
		t.Errorf("JSON round trip = %+v, want %+v", got, want)
	}
	for _, field := range []string{`"kind": "v4tov4"`, `"listen_port": "2222"`, `"entry"`} {
		if !strings.Contains(out.String(), field) {
			t.Errorf("output lacks %s:\n%s", field, out.String())
		}
	}
}
