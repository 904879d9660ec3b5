//go:build linux

// Package procinfo finds the process that owns a socket, by its inode,
// through /proc/<pid>/fd.
//
// Walking every process's file descriptors is the expensive part, so a
// Cache remembers where each inode was found, and /proc is walked only when
// an inode is new or its owner is gone. Inodes that no process in view owns
// (sockets of another pid namespace, such as another WSL distro) are
// remembered as unowned so they do not cause a walk on every scan, and
// searched for again at most once a Revalidate, by a walk that runs
// anyway: a walk that looks for them cannot stop early.
//
// What makes a walk is in the hands of any user of the distro (two
// sockets bound to one port at once, a socket handed to another process,
// or one held by no process while in flight over a unix socket), and a
// walk reads every fd of every process; so walks are paced (budget.go):
// at most 1/walkShare of the time, after a burst of walkBurst. A walk
// stops when the budget it held is spent, and the next goes on where it
// stopped (walk.go), so no one walk holds the agent longer, however many
// fds users hold. A socket whose search waits is pending, without an
// owner, until Pending's time, when the next Resolve or Ensure searches.
//
// Confirming owners is the steady-state cost, paid on every scan. A scan
// checks that each owning process still exists, once per process, and
// re-reads an owner's /proc/<pid>/fd/<fd> link only when it was last
// confirmed Revalidate ago: a socket whose owner lives on is almost always
// still held by it (the exception, an owner that hands the socket to a
// child and closes its copy, is corrected within Revalidate). A thousand
// listeners thus cost a handful of syscalls per scan instead of a thousand.
// A scan that read exactly the sockets of the one before asks Settled
// instead, which skips even the lookup of each socket.
//
// Cheapest of all is an owner the kernel named: the eBPF trigger reports
// which process called listen() or bind(), and Assume takes its word,
// checking it by the same revalidation later.
package procinfo

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/internal/safetext"
)

// Owner is the process holding a socket.
type Owner struct {
	PID  int
	Comm string // the process name from /proc/<pid>/comm, made printable (printable)
}

// Revalidate is how long a confirmed owner is trusted while its process
// exists, and how long a socket no process in view owns is left unowned
// before a walk looks for it again.
const Revalidate = time.Minute

const (
	// walkShare is how many times the time walks took must pass before
	// they may take more: walks use at most 1 % of a core, however often
	// new owners are wanted.
	walkShare = 100
	// walkBurst is the walking time allowed at once after a quiet spell,
	// so that a burst of new services, or the first full scan of a large
	// system, is not held back: at most walkBurst every walkBurst×walkShare.
	walkBurst = 50 * time.Millisecond
)

type entry struct {
	owner   Owner
	fd      int       // where owner holds the socket; -1 if not known yet, meaningless when !found
	checked time.Time // when the fd link last named the socket, or, when !found, when a walk last missed it
	found   bool
	pending bool // not searched for yet: the walk waits for the budget
}

// Cache maps socket inodes to owners. It is not safe for concurrent use.
type Cache struct {
	proc    string
	entries map[uint64]entry
	link    []byte // readlink buffer
	want    []byte // expected link text
	path    []byte // exists' path, NUL-terminated
	walks   int    // how often /proc was walked, for tests
	now     func() time.Time
	// live, missing and alive are reused by every Resolve.
	live, missing map[uint64]struct{}
	alive         map[int]bool
	settled       settled
	budget        budget        // for walks
	walked        time.Duration // all walks took, for Walked
	deferred      bool          // some entries may be pending
	pass          *pass         // the walk under way, if one ran out of time
	read          int           // processes read by walks, for tests
}

// settled sums up the entries as the last Resolve left them, for Settled.
// Anything else that changes them (Ensure, Assume, Forget) voids it.
type settled struct {
	valid  bool
	owners []int     // the distinct owners
	due    time.Time // when the first of them is due for revalidation, or a pending search may run; zero if neither
}

// Walked returns how long all /proc walks took so far. Walks are paced
// by a budget of their own, so whoever paces work that includes them
// (periodic scans) takes this out of its cost.
func (c *Cache) Walked() time.Duration { return c.walked }

// New returns a Cache reading procRoot (normally "/proc").
func New(procRoot string) *Cache {
	return &Cache{
		proc:    procRoot,
		entries: make(map[uint64]entry),
		link:    make([]byte, 64),
		now:     time.Now,
		live:    make(map[uint64]struct{}),
		missing: make(map[uint64]struct{}),
		alive:   make(map[int]bool),
	}
}

// Resolve brings the cache in line with inodes, the sockets of a full
// scan: entries of other inodes are dropped, and Ensure is called.
func (c *Cache) Resolve(inodes []uint64) error {
	if !c.holdsExactly(inodes) {
		live := c.live
		clear(live)
		for _, ino := range inodes {
			live[ino] = struct{}{}
		}
		for ino := range c.entries {
			if _, ok := live[ino]; !ok {
				delete(c.entries, ino)
			}
		}
	}
	if err := c.Ensure(inodes); err != nil {
		return err
	}
	c.settle()
	return nil
}

// Settled reports whether Resolve, given the inodes the last call had,
// would change nothing and read no fd link: nothing else changed the
// cache since, every owner still exists, none is due for revalidation
// and no pending owner search may run yet. It costs one stat per owning
// process instead of a map lookup per socket, so a periodic scan that
// read the same sockets again asks it instead of calling Resolve.
func (c *Cache) Settled() bool {
	s := &c.settled
	if !s.valid || !s.due.IsZero() && !c.now().Before(s.due) {
		return false
	}
	for _, pid := range s.owners {
		if !c.exists(pid) {
			return false
		}
	}
	return true
}

// settle records the summary Settled checks.
func (c *Cache) settle() {
	s := &c.settled
	s.owners, s.due = s.owners[:0], time.Time{}
	seen := c.alive
	clear(seen)
	searchDue := c.budget.next()
	for _, e := range c.entries {
		if e.pending {
			if s.due.IsZero() || searchDue.Before(s.due) {
				s.due = searchDue
			}
			continue
		}
		if !e.found {
			continue
		}
		if due := e.checked.Add(Revalidate); s.due.IsZero() || due.Before(s.due) {
			s.due = due
		}
		if !seen[e.owner.PID] {
			seen[e.owner.PID] = true
			s.owners = append(s.owners, e.owner.PID)
		}
	}
	s.valid = true
}

// holdsExactly reports whether the cache has an entry for each of inodes
// and for nothing else, so that Resolve has nothing to drop: the common
// case of a periodic scan, checked without building a set. A scan lists
// each socket once, so inodes has no repeats.
func (c *Cache) holdsExactly(inodes []uint64) bool {
	if len(c.entries) != len(inodes) {
		return false
	}
	for _, ino := range inodes {
		if _, ok := c.entries[ino]; !ok {
			return false
		}
	}
	return true
}

// Ensure makes Lookup answer for inodes, the sockets of a full or partial
// scan: known owners are confirmed, and /proc is walked once for the
// inodes that are new or whose owner let go, if the walk budget allows;
// otherwise they are left pending until Pending's time. Other entries are
// kept.
func (c *Cache) Ensure(inodes []uint64) error {
	c.settled.valid = false
	missing, alive := c.missing, c.alive
	clear(missing)
	clear(alive)
	now := c.now()
	for _, ino := range inodes {
		if e, ok := c.entries[ino]; ok && !e.pending && (!e.found || c.confirm(ino, &e, now)) {
			continue
		}
		missing[ino] = struct{}{}
	}
	if len(missing) == 0 && c.pass == nil {
		return nil
	}
	for ino := range missing {
		c.entries[ino] = entry{pending: true}
	}
	c.deferred = c.deferred || len(missing) > 0
	if !c.budget.allows(now) {
		return nil
	}
	return c.walk(now)
}

// Pending reports when sockets whose owner search waits for the walk
// budget will be searched for, by the first Resolve or Ensure from then
// on; false if none waits.
func (c *Cache) Pending() (time.Time, bool) {
	if c.pass != nil {
		return c.budget.next(), true // a search under way
	}
	if !c.deferred {
		return time.Time{}, false
	}
	for _, e := range c.entries {
		if e.pending {
			return c.budget.next(), true
		}
	}
	c.deferred = false // what was pending is gone
	return time.Time{}, false
}

// Assume records pid as the owner of inode without walking /proc, for a
// socket whose owner the kernel named (the eBPF trigger reports the process
// that called listen() or bind()), with its name comm, which is read from
// /proc when empty. A pid of 0, a process outside this pid namespace,
// records the socket as unowned. Which fd holds the socket is
// not known yet, so the claim is checked, by a walk, the first time Resolve
// or Ensure sees the inode after Revalidate; a process that is gone by
// then is noticed at once.
func (c *Cache) Assume(inode uint64, pid int, comm string) Owner {
	c.settled.valid = false
	if pid <= 0 {
		c.entries[inode] = entry{checked: c.now()}
		return Owner{}
	}
	if comm == "" {
		comm = readComm(c.proc, pid)
	}
	o := Owner{PID: pid, Comm: printable(comm)}
	c.entries[inode] = entry{owner: o, fd: -1, checked: c.now(), found: true}
	return o
}

// Forget drops what the cache knows about inode, a socket that closed.
func (c *Cache) Forget(inode uint64) {
	c.settled.valid = false
	delete(c.entries, inode)
}

// Lookup returns the owner of inode as of the last Resolve; none while
// its search is pending.
func (c *Cache) Lookup(inode uint64) (Owner, bool) {
	e, ok := c.entries[inode]
	return e.owner, ok && e.found
}

// confirm reports whether the owner in e still holds ino, reading its fd
// link only when the process exists and the last confirmation is stale.
func (c *Cache) confirm(ino uint64, e *entry, now time.Time) bool {
	pid := e.owner.PID
	up, ok := c.alive[pid]
	if !ok {
		up = c.exists(pid)
		c.alive[pid] = up
	}
	if !up {
		return false
	}
	if now.Sub(e.checked) < Revalidate {
		return true
	}
	if !c.holds(pid, e.fd, ino) {
		return false
	}
	e.checked = now
	c.entries[ino] = *e
	return true
}

// exists reports whether /proc has the process pid. Every scan asks it
// for each owner, so it builds the path in a reused buffer and makes the
// call raw: a stat of a procfs directory looks a process up and never
// waits on I/O, and Go's own call wakes the runtime's monitor thread from
// its sleep, after which it polls every 20 µs for the rest of the scan (a
// fifth of the scan-only agent's idle CPU in the lab).
func (c *Cache) exists(pid int) bool {
	c.path = append(strconv.AppendInt(append(append(c.path[:0], c.proc...), '/'), int64(pid), 10), 0)
	var st unix.Stat_t
	dir := unix.AT_FDCWD
	_, _, e := unix.RawSyscall6(unix.SYS_NEWFSTATAT, uintptr(dir),
		uintptr(unsafe.Pointer(&c.path[0])), uintptr(unsafe.Pointer(&st)), 0, 0, 0)
	return e == 0
}

// holds reports whether pid still has inode open as fd.
func (c *Cache) holds(pid, fd int, inode uint64) bool {
	if fd < 0 {
		return false
	}
	path := c.proc + "/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(fd)
	n, err := unix.Readlink(path, c.link)
	if err != nil {
		return false
	}
	c.want = strconv.AppendUint(append(c.want[:0], "socket:["...), inode, 10)
	c.want = append(c.want, ']')
	return bytes.Equal(c.link[:n], c.want)
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
	return printable(strings.TrimSuffix(string(b), "\n"))
}

// printable returns a process name as the agent may report it: up to its
// first NUL, with each run of bytes that is not valid UTF-8 and each
// character that is not printable (unicode.IsPrint) replaced by '?'. Any process can
// name itself anything but NUL (prctl PR_SET_NAME), the kernel cuts names
// at 15 bytes (inside a character, perhaps), and an eBPF read of a name
// being changed may hold a NUL in the middle; the daemon refuses a message
// with a name that is not printable UTF-8, so one process's name must not
// cost the whole distro its forwards, nor write control characters into a
// terminal that shows it.
func printable(name string) string {
	name, _, _ = strings.Cut(name, "\x00")
	return strings.Map(safetext.Rune, strings.ToValidUTF8(name, "\uFFFD"))
}
