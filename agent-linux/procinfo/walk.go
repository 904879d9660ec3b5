//go:build linux

package procinfo

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// pass is one search of every process's fds for the owners of some
// sockets. A walk goes on with it for as long as the budget allows and
// the next walk takes it up where it stopped, so no one walk runs longer
// than the budget however many processes and fds users hold (a user may
// hold a million fds), and the tracker, which waits for it, is not held.
// It reads /proc and each process's fd directory a chunk at a time
// through handles it keeps open between walks: a directory read whole
// costs its whole length before the clock can be looked at.
type pass struct {
	missing map[uint64]struct{} // the sockets it looks for and has not found
	procs   *os.File            // /proc, read on from where the pass stopped
	pids    []string            // names read from procs, not walked yet
	pid     int                 // the process whose fds are being read
	fds     *os.File            // its fd directory, read on likewise; nil between processes
	comm    string              // its name, once read
}

// checkEvery is how many directory entries a walk reads between looks at
// the clock.
const checkEvery = 256

// walk goes on with the pass under way, or begins one for every pending
// socket, and the unowned ones last searched for a Revalidate ago (a
// socket passed to a process in view becomes visible then), until every
// socket pending is searched for or its time is up. A pass that ends
// records what it did not find as unowned.
func (c *Cache) walk(now time.Time) error {
	c.walks++
	deadline := now.Add(c.budget.left())
	defer func() {
		end := c.now()
		c.budget.spend(now, end)
		c.walked += max(0, end.Sub(now))
	}()
	for {
		if c.pass == nil {
			if err := c.begin(now); err != nil || c.pass == nil {
				c.deferred = false
				return err
			}
		}
		if !c.goOn(now, deadline) {
			return nil // out of time: the pass stays under way
		}
		c.end(now)
	}
}

// begin starts a pass for what waits to be searched for, if anything does.
func (c *Cache) begin(now time.Time) error {
	missing := make(map[uint64]struct{})
	for ino, e := range c.entries {
		if e.pending || !e.found && now.Sub(e.checked) >= Revalidate {
			missing[ino] = struct{}{}
			c.entries[ino] = entry{pending: true}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	procs, err := os.Open(c.proc)
	if err != nil {
		return fmt.Errorf("find socket owners: %w", err)
	}
	c.pass = &pass{missing: missing, procs: procs}
	return nil
}

// end closes the pass, recording what it did not find as unowned: the
// sockets still pending, not those that closed or whose owner the kernel
// named meanwhile.
func (c *Cache) end(now time.Time) {
	p := c.pass
	for ino := range p.missing {
		if e, ok := c.entries[ino]; ok && e.pending {
			c.entries[ino] = entry{checked: now}
		}
	}
	if p.fds != nil {
		p.fds.Close()
	}
	p.procs.Close()
	c.pass = nil
}

// goOn reads on from where the pass stopped and reports whether the pass
// is over: all found, or every process read.
func (c *Cache) goOn(now, deadline time.Time) bool {
	p := c.pass
	c.prune()
	for {
		if len(p.missing) == 0 {
			return true
		}
		if p.fds != nil {
			if !c.readFDs(now, deadline) {
				return false
			}
			continue
		}
		if c.now().After(deadline) {
			return false
		}
		if len(p.pids) == 0 {
			names, _ := p.procs.Readdirnames(checkEvery)
			if len(names) == 0 {
				return true // every process read (or /proc unreadable): over
			}
			p.pids = names
		}
		name := p.pids[0]
		p.pids = p.pids[1:]
		pid, err := strconv.Atoi(name)
		if err != nil || pid <= 0 {
			continue
		}
		fds, err := os.Open(c.proc + "/" + name + "/fd")
		if err != nil {
			continue // exited, or not ours to read
		}
		c.read++
		p.pid, p.fds, p.comm = pid, fds, ""
	}
}

// prune drops from the pass the sockets that are no longer pending: closed
// (Forget), or named by the kernel (Assume) since it began.
func (c *Cache) prune() {
	for ino := range c.pass.missing {
		if e, ok := c.entries[ino]; !ok || !e.pending {
			delete(c.pass.missing, ino)
		}
	}
}

// readFDs reads the fds of the process under way a chunk at a time,
// recording the sockets the pass looks for, until it has read them all
// (true) or its time is up (false). A process that exits meanwhile
// simply has no more.
func (c *Cache) readFDs(now, deadline time.Time) bool {
	p := c.pass
	dir := c.proc + "/" + strconv.Itoa(p.pid) + "/fd/"
	for {
		names, _ := p.fds.Readdirnames(checkEvery)
		if len(names) == 0 {
			p.fds.Close()
			p.fds = nil
			return true
		}
		for _, name := range names {
			c.record(dir, name, now)
		}
		if c.now().After(deadline) {
			return false
		}
	}
}

// record reads the fd name of dir and records its socket, if the pass
// looks for it, as the process's.
func (c *Cache) record(dir, name string, now time.Time) {
	p := c.pass
	n, err := unix.Readlink(dir+name, c.link)
	if err != nil {
		return
	}
	ino, ok := socketInode(c.link[:n])
	if !ok {
		return
	}
	if _, want := p.missing[ino]; !want {
		return
	}
	fd, err := strconv.Atoi(name)
	if err != nil {
		return
	}
	if p.comm == "" {
		p.comm = readComm(c.proc, p.pid)
	}
	c.entries[ino] = entry{owner: Owner{PID: p.pid, Comm: p.comm}, fd: fd, checked: now, found: true}
	delete(p.missing, ino) // a later process holding it too is not its owner
}
