//go:build linux

package procinfo

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// pass is one search of every process's fds for the owners of some
// sockets. A walk goes on with it for as long as the budget allows and
// the next walk takes it up where it stopped, so no one walk runs longer
// than the budget however many fds the distro's processes hold (a user
// may hold a million), and the tracker, which waits for it, is not held.
type pass struct {
	missing map[uint64]struct{} // the sockets it looks for and has not found
	pid     int                 // it has read every process below pid,
	fd      int                 // and of pid, every fd below fd
}

// checkEvery is how many fds a walk reads between looks at the clock.
const checkEvery = 256

// walk goes on with the pass under way, or begins one for every pending
// socket, and the unowned ones last searched for a Revalidate ago (a
// socket passed to a process in view becomes visible then), until every
// socket pending is searched for or its time is up. A pass that ends
// records what it did not find as unowned.
func (c *Cache) walk(now time.Time) error {
	c.walks++
	deadline := now.Add(c.budget.left())
	defer func() { c.budget.spend(now, c.now()) }()
	for {
		if c.pass == nil && !c.begin(now) {
			c.deferred = false
			return nil
		}
		pids, err := c.pids()
		if err != nil {
			return err
		}
		if !c.goOn(pids, now, deadline) {
			return nil // out of time: the pass stays under way
		}
		for ino := range c.pass.missing {
			c.entries[ino] = entry{checked: now}
		}
		c.pass = nil
	}
}

// begin starts a pass for what waits to be searched for; false if nothing
// does.
func (c *Cache) begin(now time.Time) bool {
	p := &pass{missing: make(map[uint64]struct{})}
	for ino, e := range c.entries {
		if e.pending || !e.found && now.Sub(e.checked) >= Revalidate {
			p.missing[ino] = struct{}{}
			c.entries[ino] = entry{pending: true}
		}
	}
	if len(p.missing) == 0 {
		return false
	}
	c.pass = p
	return true
}

// goOn reads the processes of pids from where the pass stopped, and
// reports whether the pass ended: all found, or every process read.
func (c *Cache) goOn(pids []int, now, deadline time.Time) bool {
	p := c.pass
	for _, pid := range pids[sortedIndex(pids, p.pid):] {
		if p.pid != pid {
			p.pid, p.fd = pid, 0
		}
		if !c.walkPID(p, now, deadline) {
			return false
		}
		p.pid, p.fd = pid+1, 0
		if len(p.missing) == 0 {
			return true
		}
		if c.now().After(deadline) {
			return false
		}
	}
	return true
}

// sortedIndex is the index of the first of pids at or above pid.
func sortedIndex(pids []int, pid int) int {
	i, _ := slices.BinarySearch(pids, pid)
	return i
}

// pids lists the processes in view, in ascending order.
func (c *Cache) pids() ([]int, error) {
	d, err := os.Open(c.proc)
	if err != nil {
		return nil, fmt.Errorf("find socket owners: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("find socket owners: read %s: %w", c.proc, err)
	}
	pids := make([]int, 0, len(names))
	for _, name := range names {
		if pid, err := strconv.Atoi(name); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids, nil
}

// walkPID reads the fds of p.pid from p.fd on, recording the sockets p
// looks for, until it has read them all (true) or its time is up (false,
// with p.fd where it stopped). A process that exits meanwhile simply has
// none.
func (c *Cache) walkPID(p *pass, now, deadline time.Time) bool {
	c.read++
	dir := c.proc + "/" + strconv.Itoa(p.pid) + "/fd"
	d, err := os.Open(dir)
	if err != nil {
		return true
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return true
	}
	fds := make([]int, 0, len(names))
	for _, name := range names {
		if fd, err := strconv.Atoi(name); err == nil && fd >= p.fd {
			fds = append(fds, fd)
		}
	}
	slices.Sort(fds)
	var comm string
	for i, fd := range fds {
		if i > 0 && i%checkEvery == 0 && c.now().After(deadline) {
			p.fd = fd
			return false
		}
		n, err := unix.Readlink(dir+"/"+strconv.Itoa(fd), c.link)
		if err != nil {
			continue
		}
		ino, ok := socketInode(c.link[:n])
		if !ok {
			continue
		}
		if _, want := p.missing[ino]; !want {
			continue
		}
		if comm == "" {
			comm = readComm(c.proc, p.pid)
		}
		c.entries[ino] = entry{owner: Owner{PID: p.pid, Comm: comm}, fd: fd, checked: now, found: true}
		delete(p.missing, ino) // a later process holding it too is not its owner
	}
	return true
}
