//go:build linux

// Package procinfo finds the process that owns a socket, by its inode,
// through /proc/<pid>/fd.
//
// Walking every process's file descriptors is the expensive part, so a
// Cache remembers where each inode was found. A later lookup of a known
// inode costs one readlink to confirm the process still holds it; /proc is
// walked only when an inode is new, and inodes that no process in view owns
// (sockets of another pid namespace, such as another WSL distro) are
// remembered as unowned so they do not cause a walk on every scan.
package procinfo

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Owner is the process holding a socket.
type Owner struct {
	PID  int
	Comm string // the process name from /proc/<pid>/comm
}

type entry struct {
	owner Owner
	fd    int // where owner holds the socket; meaningless when !found
	found bool
}

// Cache maps socket inodes to owners. It is not safe for concurrent use.
type Cache struct {
	proc    string
	entries map[uint64]entry
	link    []byte // readlink buffer
	want    []byte // expected link text
	walks   int    // how often /proc was walked, for tests
	// live and missing are reused by every Resolve.
	live, missing map[uint64]struct{}
}

// New returns a Cache reading procRoot (normally "/proc").
func New(procRoot string) *Cache {
	return &Cache{
		proc:    procRoot,
		entries: make(map[uint64]entry),
		link:    make([]byte, 64),
		live:    make(map[uint64]struct{}),
		missing: make(map[uint64]struct{}),
	}
}

// Resolve brings the cache in line with inodes, the sockets of the current
// scan: entries of other inodes are dropped, known owners are confirmed,
// and /proc is walked once for the inodes that are new or whose owner let
// go. Afterwards Lookup answers for every inode in the list.
func (c *Cache) Resolve(inodes []uint64) error {
	live, missing := c.live, c.missing
	clear(live)
	clear(missing)
	for _, ino := range inodes {
		live[ino] = struct{}{}
		e, ok := c.entries[ino]
		if ok && (!e.found || c.holds(e.owner.PID, e.fd, ino)) {
			continue
		}
		missing[ino] = struct{}{}
	}
	for ino := range c.entries {
		if _, ok := live[ino]; !ok {
			delete(c.entries, ino)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	// Unowned inodes are retried whenever a walk happens anyway: a socket
	// passed to another process becomes visible then.
	for ino, e := range c.entries {
		if !e.found {
			missing[ino] = struct{}{}
		}
	}
	for ino := range missing {
		c.entries[ino] = entry{}
	}
	return c.walk(missing)
}

// Lookup returns the owner of inode as of the last Resolve.
func (c *Cache) Lookup(inode uint64) (Owner, bool) {
	e, ok := c.entries[inode]
	return e.owner, ok && e.found
}

// holds reports whether pid still has inode open as fd.
func (c *Cache) holds(pid, fd int, inode uint64) bool {
	path := c.proc + "/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(fd)
	n, err := unix.Readlink(path, c.link)
	if err != nil {
		return false
	}
	c.want = strconv.AppendUint(append(c.want[:0], "socket:["...), inode, 10)
	c.want = append(c.want, ']')
	return bytes.Equal(c.link[:n], c.want)
}

// walk reads every process's fds until all of missing are found.
func (c *Cache) walk(missing map[uint64]struct{}) error {
	c.walks++
	d, err := os.Open(c.proc)
	if err != nil {
		return fmt.Errorf("find socket owners: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("find socket owners: read %s: %w", c.proc, err)
	}
	left := len(missing)
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid <= 0 {
			continue
		}
		left -= c.walkPID(pid, missing)
		if left == 0 {
			break
		}
	}
	return nil
}

// walkPID records the sockets of pid that are in missing and returns how
// many it found. A process that exits meanwhile simply has none.
func (c *Cache) walkPID(pid int, missing map[uint64]struct{}) int {
	dir := c.proc + "/" + strconv.Itoa(pid) + "/fd"
	d, err := os.Open(dir)
	if err != nil {
		return 0
	}
	fds, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return 0
	}
	found := 0
	var comm string
	for _, name := range fds {
		n, err := unix.Readlink(dir+"/"+name, c.link)
		if err != nil {
			continue
		}
		ino, ok := socketInode(c.link[:n])
		if !ok {
			continue
		}
		if _, want := missing[ino]; !want {
			continue
		}
		if e := c.entries[ino]; e.found {
			continue // an earlier (lower) pid holds it too; keep that one
		}
		fd, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		if comm == "" {
			comm = readComm(c.proc, pid)
		}
		c.entries[ino] = entry{owner: Owner{PID: pid, Comm: comm}, fd: fd, found: true}
		found++
	}
	return found
}

// socketInode parses a link text "socket:[12345]".
func socketInode(link []byte) (uint64, bool) {
	const prefix = "socket:["
	if len(link) < len(prefix)+2 || string(link[:len(prefix)]) != prefix || link[len(link)-1] != ']' {
		return 0, false
	}
	var n uint64
	for _, ch := range link[len(prefix) : len(link)-1] {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		d := uint64(ch - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

func readComm(proc string, pid int) string {
	b, err := os.ReadFile(proc + "/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}
