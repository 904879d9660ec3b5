package portproxy

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// memStore is the registry's PortProxy tree in memory.
type memStore struct {
	mu     sync.Mutex
	tables map[Kind]map[string]string // kind -> value name -> data
	extra  []Value                    // values a store reports as unreadable
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
	var out []Value
	for _, k := range Kinds {
		for _, name := range slices.Sorted(maps.Keys(s.tables[k])) {
			out = append(out, Value{Kind: k, Name: name, Data: s.tables[k][name]})
		}
	}
	return append(out, s.extra...), nil
}

// fakeNetsh applies `interface portproxy add|delete` script lines to a
// memStore as netsh does: the registry value name is what listenaddress and
// listenport say, unchecked; a bad line prints a usage message and the run
// still "succeeds".
type fakeNetsh struct {
	store   *memStore
	mu      sync.Mutex
	scripts []string
}

func (n *fakeNetsh) Run(_ context.Context, script string) ([]byte, error) {
	n.mu.Lock()
	n.scripts = append(n.scripts, script)
	n.mu.Unlock()
	var out strings.Builder
	for _, line := range strings.Split(script, "\r\n") {
		if line == "" {
			continue
		}
		if err := n.apply(line); err != nil {
			fmt.Fprintf(&out, "%v\r\n", err)
		}
	}
	return []byte(out.String()), nil
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
	switch op {
	case "add", "set":
		cport := args["connectport"]
		if cport == "" {
			cport = lport
		}
		n.store.set(kind, name, args["connectaddress"]+"/"+cport)
		return nil
	case "delete":
		n.store.mu.Lock()
		defer n.store.mu.Unlock()
		if _, ok := n.store.tables[kind][name]; !ok {
			return fmt.Errorf("The system cannot find the file specified.")
		}
		delete(n.store.tables[kind], name)
		return nil
	}
	return fmt.Errorf("The following command was not found: %s.", line)
}

// lyingNetsh is netsh as Wine has it, or netsh without elevation that
// printed its complaint and exited 0: it claims success and changes nothing.
type lyingNetsh struct{ runs int }

func (n *lyingNetsh) Run(context.Context, string) ([]byte, error) {
	n.runs++
	return []byte("The requested operation requires elevation (Run as administrator).\r\n"), nil
}
