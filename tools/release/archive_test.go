package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Archives of the same files are the same bytes, whatever the files' own
// times, and hold each file with the mode and time given.
func TestArchivesReproducible(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"tool": "#!/bin/sh\n", "doc.md": "# doc\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	es := []entry{{"d/tool", filepath.Join(dir, "tool"), 0o755}, {"d/doc.md", filepath.Join(dir, "doc.md"), 0o644}}
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, write := range []func(string, []entry, time.Time) error{writeZip, writeTarGz} {
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		if err := write(a, es, mtime); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(filepath.Join(dir, "tool"), time.Now(), time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := write(b, es, mtime); err != nil {
			t.Fatal(err)
		}
		da, _ := os.ReadFile(a)
		db, _ := os.ReadFile(b)
		if !bytes.Equal(da, db) {
			t.Errorf("two archives of the same files differ")
		}
		checkEntries(t, da, es, mtime)
	}
}

func checkEntries(t *testing.T, data []byte, want []entry, mtime time.Time) {
	t.Helper()
	type got struct {
		name string
		mode fs.FileMode
		time time.Time
	}
	var gs []got
	if zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data))); err == nil {
		for _, f := range zr.File {
			gs = append(gs, got{f.Name, f.Mode(), f.Modified.UTC()})
		}
	} else {
		gz, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("neither zip nor gzip: %v", err)
		}
		tr := tar.NewReader(gz)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			gs = append(gs, got{h.Name, fs.FileMode(h.Mode), h.ModTime.UTC()})
		}
	}
	if len(gs) != len(want) {
		t.Fatalf("archive holds %v, want %v", gs, want)
	}
	for i, w := range want {
		if gs[i] != (got{w.name, w.mode, mtime}) {
			t.Errorf("entry %d = %v, want %s %v %v", i, gs[i], w.name, w.mode, mtime)
		}
	}
}
