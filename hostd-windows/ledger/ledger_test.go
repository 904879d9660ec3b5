package ledger

import (
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

func entry(proto backend.Protocol, listen, connect string) backend.Entry {
	return backend.Entry{Protocol: proto, Listen: netip.MustParseAddrPort(listen), Connect: netip.MustParseAddrPort(connect)}
}

// recs records entries without a distro.
func recs(es ...backend.Entry) []Record {
	out := make([]Record, len(es))
	for i, e := range es {
		out[i] = Record{Entry: e}
	}
	return out
}

var (
	e80  = entry(backend.TCP, "0.0.0.0:80", "172.28.240.53:80")
	e53  = entry(backend.UDP, "0.0.0.0:53", "172.28.240.53:53")
	e80b = entry(backend.TCP, "0.0.0.0:80", "172.28.240.54:80")
)

func TestOpenEmptyReplaceReopen(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, "portproxy")
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Entries(); len(got) != 0 {
		t.Fatalf("fresh ledger has %v", got)
	}
	// Two entries for one key are legal while a forward moves.
	if err := l.Replace(recs(e80b, e53, e80, e80)); err != nil {
		t.Fatal(err)
	}
	want := []backend.Entry{e80, e80b, e53}
	if got := l.Entries(); !slices.Equal(got, want) {
		t.Fatalf("Entries = %v, want %v", got, want)
	}
	l2, err := Open(dir, "portproxy")
	if err != nil {
		t.Fatal(err)
	}
	if got := l2.Entries(); !slices.Equal(got, want) {
		t.Fatalf("reopened Entries = %v, want %v", got, want)
	}
	// Another backend has its own ledger.
	l3, err := Open(dir, "other")
	if err != nil {
		t.Fatal(err)
	}
	if got := l3.Entries(); len(got) != 0 {
		t.Fatalf("the other backend's ledger has %v", got)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(l.Path())
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("ledger mode = %v, want 0600", fi.Mode().Perm())
		}
	}
}

// A version 1 ledger, written before wslfwd recorded distros, still loads:
// its entries stay wslfwd's, with no distro; the next write records
// distros in version 2.
func TestOpenVersion1(t *testing.T) {
	dir := t.TempDir()
	v1 := `{"version":1,"entries":[{"protocol":"tcp","listen":"0.0.0.0:80","connect":"172.28.240.53:80"}]}`
	if err := os.WriteFile(filepath.Join(dir, "ledger-portproxy.json"), []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir, "portproxy")
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Records(); !slices.Equal(got, recs(e80)) {
		t.Fatalf("Records = %v, want %v without a distro", got, recs(e80))
	}
	want := []Record{{Entry: e80, Distro: "Ubuntu"}, {Entry: e53}}
	// The same entry twice: the record that names a distro wins.
	if err := l.Replace(append(recs(e80, e53), want[0])); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(l.Path())
	if err != nil || !strings.HasPrefix(string(data), `{"version":3}`+"\n") || !strings.Contains(string(data), `"distro":"Ubuntu"`) {
		t.Fatalf("rewritten ledger = %s (%v), want version 3 naming the distro", data, err)
	}
	l2, err := Open(dir, "portproxy")
	if err != nil {
		t.Fatal(err)
	}
	if got := l2.Records(); !slices.Equal(got, []Record{want[0], want[1]}) {
		t.Fatalf("reopened Records = %v, want %v", got, want)
	}
}

// header3 is a version 3 file's first line.
const header3 = `{"version":3}` + "\n"

func TestOpenCorruptNamesFile(t *testing.T) {
	for name, content := range map[string]string{
		"torn":           `{"version":1,"entries":[{"protocol":"tcp","listen":"0.0.0.0:80","conn`,
		"empty":          ``,
		"bad version":    `{"version":4,"entries":[]}`,
		"v3 document":    `{"version":3,"entries":[]}`,
		"v3 header":      `{"version": 3}` + "\n",
		"bad line":       header3 + `{"set":[{"protocol":"tcp","listen":"0.0.0.0:80","connect":"nope"}]}` + "\n",
		"empty line":     header3 + "\n",
		"no change":      header3 + `{}` + "\n",
		"line key":       header3 + `{"set":[],"add":[]}` + "\n",
		"entry key":      header3 + `{"remove":[{"protocol":"tcp","listen":"0.0.0.0:80","connect":"1.2.3.4:80","port":1}]}` + "\n",
		"removed distro": header3 + `{"remove":[{"protocol":"tcp","listen":"0.0.0.0:80","connect":"1.2.3.4:80","distro":"Ubuntu"}]}` + "\n",
		"two values":     header3 + `{"remove":[{"protocol":"tcp","listen":"0.0.0.0:80","connect":"1.2.3.4:80"}]} {}` + "\n",
		"bad middle":     header3 + `{"set":[` + "\n" + `{"remove":[{"protocol":"tcp","listen":"0.0.0.0:80","connect":"1.2.3.4:80"}]}` + "\n",
		"v1 distro":      `{"version":1,"entries":[{"protocol":"tcp","listen":"0.0.0.0:80","connect":"1.2.3.4:80","distro":"Ubuntu"}]}`,
		"bad address":    `{"version":1,"entries":[{"protocol":"tcp","listen":"0.0.0.0:80","connect":"nope"}]}`,
		"bad proto":      `{"version":1,"entries":[{"protocol":"sctp","listen":"0.0.0.0:80","connect":"1.2.3.4:80"}]}`,
		"unknown key":    `{"version":1,"entries":[],"extra":1}`,
		"trailing":       `{"version":1,"entries":[]} {}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "ledger-portproxy.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(dir, "portproxy")
			if err == nil {
				t.Fatal("Open of a corrupt ledger succeeded")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
			// Refusing to guess means leaving the file as it is.
			data, err := os.ReadFile(path)
			if err != nil || string(data) != content {
				t.Errorf("corrupt file changed to %q (%v)", data, err)
			}
		})
	}
}

// A crash mid-write leaves a temporary file next to the ledger; the old
// content is what Open reads, and the leftover is cleaned.
func TestCrashMidWrite(t *testing.T) {
	dir := t.TempDir()
	openWith(t, dir, recs(e80)...)
	torn := Encode(recs(e80, e53))
	leftover := filepath.Join(dir, ".ledger-portproxy.json.tmp-4711")
	if err := os.WriteFile(leftover, torn[:len(torn)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	l2, err := Open(dir, "portproxy")
	if err != nil {
		t.Fatal(err)
	}
	if got := l2.Entries(); !slices.Equal(got, []backend.Entry{e80}) {
		t.Fatalf("after crash Entries = %v, want [%v]", got, e80)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("leftover temporary file still there (stat: %v)", err)
	}
}

// When the state directory cannot be written, Replace fails and the ledger
// in memory keeps its old content. Removing the directory works as root too
// (root ignores permission bits).
func TestReplaceUnwritableKeepsMemory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	l := openWith(t, dir, recs(e80)...)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	err := l.Replace(recs(e80, e53))
	if err == nil {
		t.Fatal("Replace into a removed directory succeeded")
	}
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q does not name the state directory", err)
	}
	if got := l.Entries(); !slices.Equal(got, []backend.Entry{e80}) {
		t.Fatalf("Entries after failed Replace = %v, want [%v]", got, e80)
	}
}

func TestOpenRejectsBadBackendName(t *testing.T) {
	for _, name := range []string{"", "../x", "a/b"} {
		if _, err := Open(t.TempDir(), name); err == nil {
			t.Errorf("Open(dir, %q) succeeded", name)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(recs(e80, e53)))
	f.Add(Encode(nil))
	f.Add([]byte(`{"version":1,"entries":[{"protocol":"tcp","listen":"[::]:80","connect":"[fe80::1%eth0]:80"}]}`))
	f.Add([]byte(`{"version":1,"entries":null}`))
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(header3 + `{"set":[{"protocol":"udp","listen":"[::]:53","connect":"[fd00::2]:53","distro":"Ubuntu"}]}` + "\n" +
		`{"remove":[{"protocol":"udp","listen":"[::]:53","connect":"[fd00::2]:53"}]}` + "\n" + `{"set":[{"proto`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := decode(data)
		if err != nil {
			return
		}
		entries := d.records
		// Whatever decodes must survive a round trip unchanged.
		again, err := decode(Encode(entries))
		if err != nil {
			t.Fatalf("re-decode of encoded %v: %v", entries, err)
		}
		if !slices.Equal(entries, again.records) {
			t.Fatalf("round trip changed %v to %v", entries, again)
		}
		for _, r := range entries {
			e := r.Entry
			if e.Listen.Port() == 0 || e.Connect.Port() == 0 {
				t.Fatalf("decoded entry with port 0: %v", e)
			}
		}
	})
}

// stubBackend answers only what For asks of a backend; any other method
// panics on the nil embedded interface.
type stubBackend struct {
	backend.Backend
	name    string
	durable bool
}

func (b stubBackend) Name() string  { return b.name }
func (b stubBackend) Durable() bool { return b.durable }

// A durable backend's ledger is its file: what one daemon records, the next
// finds.
func TestForDurableBackendUsesFile(t *testing.T) {
	dir := t.TempDir()
	pp := stubBackend{name: "portproxy", durable: true}
	l, err := For(dir, pp)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "ledger-portproxy.json"); l.Path() != want {
		t.Errorf("Path = %q, want %q", l.Path(), want)
	}
	if err := l.Replace(recs(e80)); err != nil {
		t.Fatal(err)
	}
	l2, err := For(dir, pp)
	if err != nil {
		t.Fatal(err)
	}
	if got := l2.Entries(); !slices.Equal(got, []backend.Entry{e80}) {
		t.Fatalf("reopened Entries = %v, want [%v]", got, e80)
	}
}

// A backend that is not durable gets a ledger in memory: it neither reads
// the file an older wslfwd left (even a corrupt one) nor writes one, and
// Replace succeeds with the state directory gone.
func TestForNotDurableBackendKeepsNothingOnDisk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "ledger-relay.json")
	old := []byte(`{"version": 1, "entries": [`) // torn by a crash
	if err := os.WriteFile(stale, old, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := For(dir, stubBackend{name: "relay"})
	if err != nil {
		t.Fatalf("For with a stale relay ledger on disk: %v", err)
	}
	if l.Path() != "" || len(l.Entries()) != 0 {
		t.Fatalf("Path %q, Entries %v; want an empty ledger in memory", l.Path(), l.Entries())
	}
	if err := l.Replace(recs(e80, e53)); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(stale); err != nil || string(got) != string(old) {
		t.Errorf("the stale file changed: %q, %v", got, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := l.Replace(recs(e53)); err != nil {
		t.Fatalf("Replace in memory with the state directory gone: %v", err)
	}
	if got := l.Entries(); !slices.Equal(got, []backend.Entry{e53}) {
		t.Fatalf("Entries = %v, want [%v]", got, e53)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the state directory came back: %v", err)
	}
}

// Update is Replace of the set it describes: on disk, with distros, one
// record per entry.
func TestUpdateIsReplaceOfTheResult(t *testing.T) {
	dir := t.TempDir()
	l := openWith(t, dir, recs(e80, e53)...)
	if err := l.Update([]Record{{Entry: e80b, Distro: "Debian"}, {Entry: e53, Distro: "Ubuntu"}}, []backend.Entry{e80, e80}); err != nil {
		t.Fatal(err)
	}
	want := []Record{{Entry: e80b, Distro: "Debian"}, {Entry: e53, Distro: "Ubuntu"}}
	if got := l.Records(); !slices.Equal(got, want) {
		t.Fatalf("Records = %v, want %v", got, want)
	}
	reopened, err := Open(dir, "portproxy")
	if err != nil {
		t.Fatal(err)
	}
	if got := reopened.Records(); !slices.Equal(got, want) {
		t.Fatalf("reopened Records = %v, want %v", got, want)
	}
	// A record without a distro does not erase the one recorded.
	if err := l.Update(recs(e53), nil); err != nil {
		t.Fatal(err)
	}
	if got := l.Records(); !slices.Equal(got, want) {
		t.Fatalf("after a distro-less update Records = %v, want %v", got, want)
	}
}
