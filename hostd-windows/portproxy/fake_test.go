package portproxy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// memStore is the registry's PortProxy tree in memory.
type memStore struct {
	mu        sync.Mutex
	tables    map[Kind]map[string]string // kind -> value name -> data
	extra     []Value                    // values a store reports as unreadable
	failReads int                        // reads that fail before one succeeds
}

func newMemStore() *memStore { return &memStore{tables: make(map[Kind]map[string]string)} }

func (s *memStore) set(k Kind, name, data string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tables[k] == nil {
		s.tables[k] = make(map[string]string)
	}
	s.tables[k][name] = data
}

func (s *memStore) Read() ([]Value, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failReads > 0 {
		s.failReads--
		return nil, errors.New("the registry could not be read")
	}
	var out []Value
	for _, k := range Kinds {
		for _, name := range slices.Sorted(maps.Keys(s.tables[k])) {
			out = append(out, Value{Kind: k, Name: name, Data: s.tables[k][name]})
		}
	}
	return append(out, s.extra...), nil
}

// fakeNetsh applies `interface portproxy add|delete` script lines to a
// memStore, stricter than Windows where Windows is undocumented: the
// registry value name is what listenaddress and listenport say, unchecked;
// a delete of an absent entry and an add over an existing key fail; a
// delete takes every value that names the same socket; and a
// `-f` script stops at its first failing line (ReactOS's netsh does), with
// exit code 0 and only a message, as netsh may.
type fakeNetsh struct {
	store   *memStore
	refuse  func(line string) bool // lines that fail as if Windows refused them
	mu      sync.Mutex
	scripts []string
}

func (n *fakeNetsh) Run(_ context.Context, script string) ([]byte, error) {
	n.mu.Lock()
	n.scripts = append(n.scripts, script)
	n.mu.Unlock()
	for _, line := range strings.Split(script, "\r\n") {
		if line == "" {
			continue
		}
		if n.refuse != nil && n.refuse(line) {
			return []byte("The parameter is incorrect.\r\n"), nil
		}
		if err := n.apply(line); err != nil {
			return []byte(err.Error() + "\r\n"), nil
		}
	}
	return nil, nil
}

func (n *fakeNetsh) apply(line string) error {
	f := strings.Fields(line)
	if len(f) < 4 || f[0] != "interface" || f[1] != "portproxy" {
		return fmt.Errorf("The following command was not found: %s.", line)
	}
	op, kind := f[2], Kind(f[3])
	if _, _, err := kind.families(); err != nil {
		return fmt.Errorf("The following command was not found: %s.", line)
	}
	args := make(map[string]string)
	for _, kv := range f[4:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("The syntax supplied for this command is not valid. Check help for the correct syntax.")
		}
		args[k] = v
	}
	lport, laddr := args["listenport"], args["listenaddress"]
	if laddr == "" {
		laddr = "*"
	}
	name := laddr + "/" + lport
	n.store.mu.Lock()
	defer n.store.mu.Unlock()
	_, exists := n.store.tables[kind][name]
	switch op {
	case "add":
		if exists {
			return fmt.Errorf("Cannot create a file when that file already exists.")
		}
		cport := args["connectport"]
		if cport == "" {
			cport = lport
		}
		if n.store.tables[kind] == nil {
			n.store.tables[kind] = make(map[string]string)
		}
		n.store.tables[kind][name] = args["connectaddress"] + "/" + cport
		return nil
	case "delete":
		if !exists {
			return fmt.Errorf("The system cannot find the file specified.")
		}
		// How netsh matches a delete to a value is undocumented: the
		// harsher reading is that it parses the address, so that every
		// spelling of the socket goes ("0.0.0.0", "*", "::0", a port
		// with leading zeros).
		for other := range n.store.tables[kind] {
			if sameSocket(kind, other, name) {
				delete(n.store.tables[kind], other)
			}
		}
		return nil
	}
	return fmt.Errorf("The following command was not found: %s.", line)
}

// sameSocket reports whether two value names of table k name one socket,
// read as leniently as netsh might (heldByUnparsed's reading).
func sameSocket(k Kind, a, b string) bool {
	ka, oka := heldByUnparsed([]Unparsed{{Value: Value{Kind: k, Name: a}}}).keys, true
	kb, okb := heldByUnparsed([]Unparsed{{Value: Value{Kind: k, Name: b}}}).keys, true
	if !oka || !okb || len(ka) != 1 || len(kb) != 1 {
		return a == b
	}
	for x := range ka {
		_, same := kb[x]
		return same
	}
	return false
}

// lyingNetsh is netsh as Wine has it, or netsh without elevation that
// printed its complaint and exited 0: it claims success and changes nothing.
type lyingNetsh struct{ runs int }

func (n *lyingNetsh) Run(context.Context, string) ([]byte, error) {
	n.runs++
	return []byte("The requested operation requires elevation (Run as administrator).\r\n"), nil
}
