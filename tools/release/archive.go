package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// entry is one file of an archive: its name there, the file it is read
// from, and its mode.
type entry struct {
	name, src string
	mode      fs.FileMode
}

// writeZip writes entries, in order, to a zip at path. Every entry has the
// same time, so one commit makes the same bytes.
func writeZip(path string, entries []entry, mtime time.Time) error {
	return writeArchive(path, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		for _, e := range entries {
			h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: mtime.UTC()}
			h.SetMode(e.mode)
			dst, err := zw.CreateHeader(h)
			if err != nil {
				return err
			}
			if err := copyFile(dst, e.src); err != nil {
				return err
			}
		}
		return zw.Close()
	})
}

// writeTarGz writes entries, in order, to a gzipped tar at path, owned by
// root and all of the same time.
func writeTarGz(path string, entries []entry, mtime time.Time) error {
	return writeArchive(path, func(w io.Writer) error {
		gz := gzip.NewWriter(w)
		tw := tar.NewWriter(gz)
		for _, e := range entries {
			fi, err := os.Stat(e.src)
			if err != nil {
				return err
			}
			h := &tar.Header{
				Typeflag: tar.TypeReg, Name: e.name, Size: fi.Size(), Mode: int64(e.mode.Perm()),
				ModTime: mtime.UTC(), Uname: "root", Gname: "root",
			}
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if err := copyFile(tw, e.src); err != nil {
				return err
			}
		}
		return errors.Join(tw.Close(), gz.Close())
	})
}

// writeArchive creates path and fills it with fill; on any error it removes
// what it wrote, so a file in dist/ is always whole.
func writeArchive(path string, fill func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := errors.Join(fill(f), f.Close()); err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func copyFile(dst io.Writer, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(dst, f)
	return err
}
