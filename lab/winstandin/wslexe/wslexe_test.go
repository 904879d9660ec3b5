package wslexe

import (
	"bytes"
	"context"
	"io"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestParse(t *testing.T) {
	good := map[string]Request{
		"-l -q":                          {Kind: List, Quiet: true},
		"--list --running --quiet":       {Kind: List, Running: true, Quiet: true},
		"-l -v":                          {Kind: List, Verbose: true},
		"--status":                       {Kind: Status},
		"-d Ubuntu --exec uname -r -m":   {Kind: Run, Distro: "Ubuntu", Argv: []string{"uname", "-r", "-m"}},
		"-d Ubuntu -u root -e a b":       {Kind: Run, Distro: "Ubuntu", User: "root", Argv: []string{"a", "b"}},
		"-u root -- echo hi":             {Kind: Run, User: "root", Shell: true, Argv: []string{"echo", "hi"}},
		"--cd ~ --distribution Deb -e x": {Kind: Run, Dir: "~", Distro: "Deb", Argv: []string{"x"}},
	}
	for line, want := range good {
		got, err := Parse(strings.Fields(line))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %+v, %v; want %+v", line, got, err, want)
		}
	}
	for _, line := range []string{
		"", "-l -q -v", "-l -d Ubuntu", "--status -l", "-d Ubuntu", "-d Ubuntu --exec",
		"-d Ubuntu -d Debian -e x", "-d 'bad name' -e x", "--install", "--shutdown", "-d", "uname -r",
	} {
		if r, err := Parse(strings.Fields(line)); err == nil {
			t.Errorf("%q accepted as %+v", line, r)
		}
	}
}

// A call carries argv, stdin and WSL_UTF8 to the handler and its output
// and exit status back; a command line wsl.exe refuses never reaches the
// handler and exits -1 with wsl.exe's message in UTF-16LE.
func TestCallServe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var mu sync.Mutex
	var got []Request
	calls := func() []Request { mu.Lock(); defer mu.Unlock(); return slices.Clone(got) }
	go Serve(l, func(_ context.Context, r Request, stdin io.Reader, stdout, stderr io.Writer) int {
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
		in, _ := io.ReadAll(stdin)
		stdout.Write(bytes.ToUpper(in))
		io.WriteString(stderr, "said")
		return 7
	})
	var out, errOut bytes.Buffer
	code, err := Call(l.Addr().String(), []string{"-d", "Ubuntu", "-u", "root", "--exec", "cat"}, true, strings.NewReader("token\n"), &out, &errOut)
	if err != nil || code != 7 || out.String() != "TOKEN\n" || errOut.String() != "said" {
		t.Errorf("got %d, %v, stdout %q, stderr %q", code, err, out.String(), errOut.String())
	}
	if c := calls(); len(c) != 1 || !c[0].UTF8 || c[0].Distro != "Ubuntu" {
		t.Errorf("handler got %+v", c)
	}
	out.Reset()
	errOut.Reset()
	code, err = Call(l.Addr().String(), []string{"--shutdown"}, false, strings.NewReader(""), &out, &errOut)
	if err != nil || code != -1 || len(calls()) != 1 {
		t.Errorf("refused line: code %d, err %v, handler calls %d", code, err, len(calls()))
	}
	if !bytes.HasPrefix(errOut.Bytes(), []byte("i\x00n\x00v\x00")) {
		t.Errorf("message not UTF-16LE: %q", errOut.Bytes())
	}
}
