package install

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/wslfwd/wslfwd/agent-linux/wslconf"
)

// manifest is what install made, kept in manifestPath: uninstall removes
// that and nothing else. Paths are as seen inside the distro.
type manifest struct {
	// Files are the files install wrote (each is the agent's own).
	Files []string `json:"files"`
	// Dirs are the directories install created, parents first.
	Dirs []string `json:"dirs,omitempty"`
	// WSLConf is what install added to /etc/wsl.conf, nil when nothing.
	WSLConf *wslconf.Edit `json:"wsl_conf,omitempty"`
	// CreatedWSLConf is set when there was no /etc/wsl.conf before.
	CreatedWSLConf bool `json:"created_wsl_conf,omitempty"`
	// EnabledUnit is set when install enabled the systemd unit, whose
	// file may be someone else's (one that already held what install
	// would write): uninstall disables it.
	EnabledUnit bool `json:"enabled_unit,omitempty"`

	saved []byte // the file as read, to write it only when it changes
}

// loadManifest reads the manifest under root; nil when there is none.
func loadManifest(root string) (*manifest, error) {
	b, err := readFile(under(root, manifestPath))
	if err != nil || b == nil {
		return nil, err
	}
	m := &manifest{saved: b}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%s: %w", under(root, manifestPath), err)
	}
	return m, nil
}

// save writes the manifest if it changed.
func (m *manifest) save(root string) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the boot command's >> and & as they are
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return err
	}
	b := buf.Bytes()
	if bytes.Equal(b, m.saved) {
		return nil
	}
	if _, err := writeFile(under(root, manifestPath), b, 0o600); err != nil {
		return err
	}
	m.saved = b
	return nil
}

func (m *manifest) has(path string) bool { return slices.Contains(m.Files, path) }

// addFile records path before it is written, so a failure half way
// still leaves it for uninstall.
func (m *manifest) addFile(path string) {
	if !m.has(path) {
		m.Files = append(m.Files, path)
	}
}

func (m *manifest) dropFile(path string) {
	m.Files = slices.DeleteFunc(m.Files, func(p string) bool { return p == path })
}
