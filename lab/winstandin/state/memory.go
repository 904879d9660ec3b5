package state

import (
	"maps"
	"slices"
	"sync"
)

// Memory is a Store in memory, for tests of the stand-ins' logic.
type Memory struct {
	mu     sync.Mutex
	values map[string][]Value
	rules  map[Table][]Rule
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store.
func NewMemory() *Memory {
	return &Memory{values: map[string][]Value{}, rules: map[Table][]Rule{}}
}

// Values lists one table's values in the order they were made.
func (m *Memory) Values(kind string) ([]Value, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.values[kind]), nil
}

// SetValue replaces a value in place, or appends a new one.
func (m *Memory) SetValue(kind, name, data string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	vs := m.values[kind]
	if i := slices.IndexFunc(vs, func(v Value) bool { return v.Name == name }); i >= 0 {
		vs[i].Data = data
		return nil
	}
	m.values[kind] = append(vs, Value{Name: name, Data: data})
	return nil
}

// DeleteValue deletes a value, reporting whether it was there.
func (m *Memory) DeleteValue(kind, name string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	vs := m.values[kind]
	i := slices.IndexFunc(vs, func(v Value) bool { return v.Name == name })
	if i < 0 {
		return false, nil
	}
	m.values[kind] = slices.Delete(vs, i, i+1)
	return true, nil
}

// Rules lists a firewall's rules, as copies.
func (m *Memory) Rules(t Table) ([]Rule, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Rule, 0, len(m.rules[t]))
	for _, r := range m.rules[t] {
		out = append(out, maps.Clone(r))
	}
	return out, nil
}

// SetRules replaces a firewall's rules.
func (m *Memory) SetRules(t Table, rules []Rule) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rules[t] = nil
	for _, r := range rules {
		m.rules[t] = append(m.rules[t], maps.Clone(r))
	}
	return nil
}
