package state

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows/registry"
)

// PortProxyPath is where Windows keeps portproxy values, under
// HKEY_LOCAL_MACHINE; each table is the subkey <kind>\tcp.
const PortProxyPath = `SYSTEM\CurrentControlSet\Services\PortProxy`

// RulesPath is the stand-ins' own key for firewall rules, under
// HKEY_LOCAL_MACHINE; each firewall is a subkey holding one REG_MULTI_SZ
// value, rulesValue, with one encoded rule per string in the order they
// were made. One value, written in one call, so that a reader in another
// process sees the rules before or after a change, never half of one.
const RulesPath = `SOFTWARE\wslfwd-standin\Firewall`

const rulesValue = "rules"

// Registry is the Store over the Windows (under Wine: Wine's) registry.
type Registry struct{}

var _ Store = Registry{}

const access = registry.WOW64_64KEY

func tableKey(kind string) string { return PortProxyPath + `\` + kind + `\tcp` }

// Values lists a table's values; a missing key is an empty table.
func (Registry) Values(kind string) ([]Value, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, tableKey(kind), registry.QUERY_VALUE|access)
	if errors.Is(err, registry.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", tableKey(kind), err)
	}
	defer k.Close()
	names, err := k.ReadValueNames(-1)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", tableKey(kind), err)
	}
	out := make([]Value, 0, len(names))
	for _, n := range names {
		data, _, err := k.GetStringValue(n)
		if err != nil {
			// A user's value of another type: show it as netsh would
			// not know it, but keep listing.
			data = "?"
		}
		out = append(out, Value{Name: n, Data: data})
	}
	return out, nil
}

// SetValue writes a REG_SZ value, creating the table's key as netsh does.
func (Registry) SetValue(kind, name, data string) error {
	k, _, err := registry.CreateKey(registry.LOCAL_MACHINE, tableKey(kind), registry.SET_VALUE|access)
	if err != nil {
		return fmt.Errorf("create %s: %w", tableKey(kind), err)
	}
	defer k.Close()
	if err := k.SetStringValue(name, data); err != nil {
		return fmt.Errorf("set %s %s: %w", tableKey(kind), name, err)
	}
	return nil
}

// DeleteValue deletes a value, reporting whether it was there.
func (Registry) DeleteValue(kind, name string) (bool, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, tableKey(kind), registry.SET_VALUE|access)
	if errors.Is(err, registry.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open %s: %w", tableKey(kind), err)
	}
	defer k.Close()
	err = k.DeleteValue(name)
	if errors.Is(err, registry.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("delete %s %s: %w", tableKey(kind), name, err)
	}
	return true, nil
}

// Rules lists a firewall's rules in the order they were made.
func (Registry) Rules(t Table) ([]Rule, error) {
	path := RulesPath + `\` + string(t)
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.QUERY_VALUE|access)
	if errors.Is(err, registry.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer k.Close()
	enc, _, err := k.GetStringsValue(rulesValue)
	if errors.Is(err, registry.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", path, rulesValue, err)
	}
	out := make([]Rule, 0, len(enc))
	for _, s := range enc {
		r, err := DecodeRule(s)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// SetRules replaces a firewall's rules in one write.
func (Registry) SetRules(t Table, rules []Rule) error {
	path := RulesPath + `\` + string(t)
	k, _, err := registry.CreateKey(registry.LOCAL_MACHINE, path, registry.SET_VALUE|access)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer k.Close()
	if len(rules) == 0 {
		if err := k.DeleteValue(rulesValue); err != nil && !errors.Is(err, registry.ErrNotExist) {
			return fmt.Errorf("delete %s %s: %w", path, rulesValue, err)
		}
		return nil
	}
	enc := make([]string, 0, len(rules))
	for _, r := range rules {
		s, err := EncodeRule(r)
		if err != nil {
			return err
		}
		enc = append(enc, s)
	}
	if err := k.SetStringsValue(rulesValue, enc); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
