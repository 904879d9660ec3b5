package portproxy

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows/registry"
)

// RegistryStore reads portproxy values from Root\Path\<kind>\tcp.
type RegistryStore struct {
	Root registry.Key
	Path string
}

// SystemStore is where Windows keeps portproxy entries.
func SystemStore() RegistryStore {
	return RegistryStore{Root: registry.LOCAL_MACHINE, Path: RegistryPath}
}

// Read returns every value of the four tables. A missing table key is an
// empty table; a value that is not a string is returned with its Problem
// set, so it is listed and left alone.
func (s RegistryStore) Read() ([]Value, error) {
	var out []Value
	for _, kind := range Kinds {
		path := s.Path + `\` + string(kind) + `\tcp`
		k, err := registry.OpenKey(s.Root, path, registry.QUERY_VALUE|registry.WOW64_64KEY)
		if errors.Is(err, registry.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		values, err := readTable(k, kind)
		k.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		out = append(out, values...)
	}
	return out, nil
}

func readTable(k registry.Key, kind Kind) ([]Value, error) {
	names, err := k.ReadValueNames(-1)
	if err != nil {
		return nil, err
	}
	out := make([]Value, 0, len(names))
	for _, name := range names {
		data, typ, err := k.GetStringValue(name)
		switch {
		case errors.Is(err, registry.ErrNotExist):
			continue // deleted while we read
		case errors.Is(err, registry.ErrUnexpectedType), err == nil && typ != registry.SZ:
			// GetStringValue reads REG_EXPAND_SZ too; netsh writes REG_SZ,
			// and whether iphlpsvc reads another type is undocumented.
			out = append(out, Value{Kind: kind, Name: name, Problem: fmt.Sprintf("value of registry type %d, not REG_SZ", typ)})
		case err != nil:
			out = append(out, Value{Kind: kind, Name: name, Problem: fmt.Sprintf("cannot read value: %v", err)})
		default:
			out = append(out, Value{Kind: kind, Name: name, Data: data})
		}
	}
	return out, nil
}
