package ledger

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// openWith opens the portproxy ledger in dir and makes records its set.
func openWith(t *testing.T, dir string, records ...Record) *Ledger {
	t.Helper()
	l, err := Open(dir, "portproxy")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Replace(records); err != nil {
		t.Fatal(err)
	}
	return l
}

// readLedger returns the ledger file's content.
func readLedger(t *testing.T, l *Ledger) []byte {
	t.Helper()
	data, err := os.ReadFile(l.Path())
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// reopen opens the ledger at l's path again and returns its records.
func reopen(t *testing.T, dir string) []Record {
	t.Helper()
	l, err := Open(dir, "portproxy")
	if err != nil {
		t.Fatal(err)
	}
	return l.Records()
}

// A change appends one line and leaves what was written before as it was.
func TestUpdateAppendsOneLine(t *testing.T) {
	dir := t.TempDir()
	l := openWith(t, dir, recs(e80)...)
	before := readLedger(t, l)
	set := []Record{{Entry: e53, Distro: "Ubuntu"}}
	if err := l.Update(set, []backend.Entry{e80}); err != nil {
		t.Fatal(err)
	}
	want := append(bytes.Clone(before), encodeChange(set, []backend.Entry{e80})...)
	if got := readLedger(t, l); !bytes.Equal(got, want) {
		t.Fatalf("after one change the file is\n%s\nwant\n%s", got, want)
	}
	if got := reopen(t, dir); !slices.Equal(got, set) {
		t.Fatalf("reopened Records = %v, want %v", got, set)
	}
}

// A crash can cut the file anywhere in the last line appended (a line is
// appended and synced before its change counts). Open must then read
// exactly the changes whose lines are whole, never fail, and leave the
// file alone; the next change rewrites it whole. Zeros in place of the
// cut line (a file system that extended the file but wrote no data) read
// the same way.
func TestCrashCutsTheLastLine(t *testing.T) {
	steps := []struct {
		set    []Record
		remove []backend.Entry
	}{
		{set: []Record{{Entry: e53, Distro: "Ubuntu"}}},
		{set: []Record{{Entry: e80b, Distro: "Debian"}}, remove: []backend.Entry{e80}},
	}
	whole := Encode(recs(e80))
	states := [][]Record{recs(e80)}
	file := bytes.Clone(whole)
	var ends []int // where each line ends
	for _, s := range steps {
		file = append(file, encodeChange(s.set, s.remove)...)
		ends = append(ends, len(file))
		states = append(states, apply(slices.Clone(states[len(states)-1]), s.set, s.remove))
	}
	for cut := len(whole); cut <= len(file); cut++ {
		complete := 0
		for complete < len(ends) && ends[complete] <= cut {
			complete++
		}
		for _, tail := range []string{"cut", "zeros"} {
			content := bytes.Clone(file[:cut])
			if tail == "zeros" {
				if cut == len(file) {
					continue
				}
				content = append(content, make([]byte, len(file)-cut)...)
			}
			dir := t.TempDir()
			l := writeLedgerFile(t, dir, content)
			if got, want := l.Records(), states[complete]; !slices.Equal(got, want) {
				t.Fatalf("cut at %d of %d (%s): Records = %v, want %v", cut, len(file), tail, got, want)
			}
			if got := readLedger(t, l); !bytes.Equal(got, content) {
				t.Fatalf("cut at %d (%s): Open changed the file", cut, tail)
			}
			next := Record{Entry: entry(backend.TCP, "0.0.0.0:8080", "172.28.240.53:8080"), Distro: "Ubuntu"}
			if err := l.Update([]Record{next}, nil); err != nil {
				t.Fatal(err)
			}
			rewritten := tail == "zeros" || cut != len(whole) && !slices.Contains(ends, cut)
			want := append(content, encodeChange([]Record{next}, nil)...)
			if rewritten {
				want = Encode(l.Records())
			}
			if data := readLedger(t, l); !bytes.Equal(data, want) {
				t.Fatalf("cut at %d (%s), the next change wrote\n%q\nwant (written whole: %v)\n%q", cut, tail, data, rewritten, want)
			}
			if got, want := reopen(t, dir), apply(slices.Clone(states[complete]), []Record{next}, nil); !slices.Equal(got, want) {
				t.Fatalf("cut at %d (%s): after the next change, reopened Records = %v, want %v", cut, tail, got, want)
			}
		}
	}
}

// writeLedgerFile puts content in dir's portproxy ledger and opens it.
func writeLedgerFile(t *testing.T, dir string, content []byte) *Ledger {
	t.Helper()
	if err := os.WriteFile(dir+"/ledger-portproxy.json", content, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir, "portproxy")
	if err != nil {
		t.Fatalf("Open: %v\nfile: %q", err, content)
	}
	return l
}

// The journal is rewritten whole once it has grown past twice a whole
// write, so its length follows what is owned, not how often it changed.
func TestJournalStaysProportional(t *testing.T) {
	dir := t.TempDir()
	l := openWith(t, dir, recs(e80, e53)...)
	r := Record{Entry: e80b, Distro: "Ubuntu"}
	line := max(len(encodeChange([]Record{r}, nil)), len(encodeChange(nil, []backend.Entry{e80b})))
	limit := 2*len(Encode(append(recs(e80, e53), r))) + minJournal
	rewrites, last := 0, 0
	for i := range 3000 {
		var err error
		if i%2 == 0 {
			err = l.Update([]Record{r}, nil)
		} else {
			err = l.Update(nil, []backend.Entry{e80b})
		}
		if err != nil {
			t.Fatal(err)
		}
		n := len(readLedger(t, l))
		if n > limit {
			t.Fatalf("after %d changes the file is %d bytes, past %d", i+1, n, limit)
		}
		if n < last {
			rewrites++
		}
		last = n
	}
	if rewrites == 0 || rewrites > 3000*line/minJournal+1 {
		t.Errorf("rewritten whole %d times in 3000 changes of a %d-byte line, want about one per %d bytes", rewrites, line, minJournal)
	}
	if got := reopen(t, dir); !slices.Equal(got, recs(e80, e53)) {
		t.Fatalf("reopened Records = %v, want %v", got, recs(e80, e53))
	}
}

// An append that fails changes nothing in memory, and the next change
// writes the file whole rather than append after what may be part of a
// line.
func TestFailedAppendMakesNextWriteWhole(t *testing.T) {
	dir := t.TempDir()
	l := openWith(t, dir, recs(e80)...)
	if err := os.Remove(l.Path()); err != nil {
		t.Fatal(err)
	}
	err := l.Update(recs(e53), nil)
	if err == nil || !strings.Contains(err.Error(), l.Path()) {
		t.Fatalf("Update with the file gone: %v, want an error naming %s", err, l.Path())
	}
	if got := l.Records(); !slices.Equal(got, recs(e80)) {
		t.Fatalf("Records after a failed append = %v, want %v", got, recs(e80))
	}
	if _, err := os.Stat(l.Path()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a failed append made the file: %v", err)
	}
	if err := l.Update(recs(e53), nil); err != nil {
		t.Fatal(err)
	}
	if got, want := readLedger(t, l), Encode(recs(e80, e53)); !bytes.Equal(got, want) {
		t.Fatalf("the change after a failed append wrote\n%s\nwant the whole\n%s", got, want)
	}
}
