//go:build linux

package procinfo

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// fakeProc builds a /proc stand-in: pid -> comm and fd -> link text.
type fakeProc struct {
	t    *testing.T
	root string
}

func newFakeProc(t *testing.T) *fakeProc {
	return &fakeProc{t: t, root: t.TempDir()}
}

func (p *fakeProc) add(pid int, comm string, fds map[int]string) {
	dir := filepath.Join(p.root, strconv.Itoa(pid))
	if err := os.MkdirAll(filepath.Join(dir, "fd"), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "comm"), []byte(comm+"\n"), 0o644); err != nil {
		p.t.Fatal(err)
	}
	for fd, link := range fds {
		if err := os.Symlink(link, filepath.Join(dir, "fd", strconv.Itoa(fd))); err != nil {
			p.t.Fatal(err)
		}
	}
}

func (p *fakeProc) closeFD(pid, fd int) {
	if err := os.Remove(filepath.Join(p.root, strconv.Itoa(pid), "fd", strconv.Itoa(fd))); err != nil {
		p.t.Fatal(err)
	}
}

func resolve(t *testing.T, c *Cache, inodes ...uint64) {
	t.Helper()
	if err := c.Resolve(inodes); err != nil {
		t.Fatal(err)
	}
}

func wantOwner(t *testing.T, c *Cache, ino uint64, pid int, comm string) {
	t.Helper()
	o, ok := c.Lookup(ino)
	if pid == 0 {
		if ok {
			t.Errorf("inode %d: owner %+v, want none", ino, o)
		}
		return
	}
	if !ok || o != (Owner{PID: pid, Comm: comm}) {
		t.Errorf("inode %d: owner %+v (found %v), want pid %d %q", ino, o, ok, pid, comm)
	}
}

func TestCacheWalksOnlyForNewInodes(t *testing.T) {
	p := newFakeProc(t)
	p.add(100, "nginx", map[int]string{0: "/dev/null", 3: "socket:[1001]", 4: "pipe:[7]"})
	p.add(200, "python3", map[int]string{5: "socket:[2002]"})
	os.WriteFile(filepath.Join(p.root, "uptime"), []byte("1 1\n"), 0o644) // not a pid
	c := New(p.root)
	clock := time.Unix(1000, 0)
	c.now = func() time.Time { return clock }

	resolve(t, c, 1001, 2002, 3003)
	if c.walks != 1 {
		t.Fatalf("first resolve walked %d times, want 1", c.walks)
	}
	wantOwner(t, c, 1001, 100, "nginx")
	wantOwner(t, c, 2002, 200, "python3")
	wantOwner(t, c, 3003, 0, "") // another pid namespace: no owner in view

	// Everything known (3003 as unowned): confirmed without a walk.
	resolve(t, c, 1001, 2002, 3003)
	if c.walks != 1 {
		t.Errorf("resolve of known inodes walked /proc (walks=%d)", c.walks)
	}

	// The owner closed its fd while a child it forked keeps the socket.
	// The owner still exists, so it is trusted until Revalidate has passed;
	// then its fd link is read, the confirmation fails and a walk finds the
	// new owner.
	p.add(300, "nginx-worker", map[int]string{9: "socket:[1001]"})
	p.closeFD(100, 3)
	resolve(t, c, 1001, 2002, 3003)
	wantOwner(t, c, 1001, 100, "nginx")
	clock = clock.Add(Revalidate)
	resolve(t, c, 1001, 2002, 3003)
	if c.walks != 2 {
		t.Errorf("walks = %d after an owner change, want 2", c.walks)
	}
	wantOwner(t, c, 1001, 300, "nginx-worker")
	wantOwner(t, c, 2002, 200, "python3") // re-read and still right

	// An owner that exits is noticed on the next scan, without waiting.
	if err := os.RemoveAll(filepath.Join(p.root, "200")); err != nil {
		t.Fatal(err)
	}
	p.add(201, "python3", map[int]string{5: "socket:[2002]"})
	resolve(t, c, 1001, 2002, 3003)
	wantOwner(t, c, 2002, 201, "python3")

	// A new inode walks once. The unowned one was searched for by the
	// last walk, so this one looks for it again only once Revalidate has
	// passed since: it must not keep every walk from stopping early.
	p.add(400, "dnsmasq", map[int]string{3: "socket:[4004]", 4: "socket:[3003]"})
	resolve(t, c, 1001, 2002, 3003, 4004)
	wantOwner(t, c, 4004, 400, "dnsmasq")
	wantOwner(t, c, 3003, 0, "")
	clock = clock.Add(Revalidate)
	p.add(500, "sshd", map[int]string{3: "socket:[5005]"})
	resolve(t, c, 1001, 2002, 3003, 4004, 5005)
	wantOwner(t, c, 5005, 500, "sshd")
	wantOwner(t, c, 3003, 400, "dnsmasq")

	// Gone inodes are dropped.
	resolve(t, c, 4004)
	if len(c.entries) != 1 {
		t.Errorf("cache holds %d entries after inodes went away, want 1", len(c.entries))
	}
	wantOwner(t, c, 1001, 0, "")
}

// A socket no process in view owns is searched for by a walk that runs
// anyway at most once a Revalidate, so it costs the walks for new sockets
// their early stop no more often than that.
func TestUnownedSocketsLetWalksStopEarly(t *testing.T) {
	p := newFakeProc(t)
	p.add(100, "nginx", map[int]string{3: "socket:[1001]"})
	p.add(200, "redis", map[int]string{3: "socket:[2002]"})
	c := New(p.root)
	clock := time.Unix(1000, 0)
	c.now = func() time.Time { return clock }
	resolve(t, c, 1001, 3003) // 3003: held by no process in view

	// pid 300 holds 3003 now, but comes after 200 in the walk, which
	// stops as soon as it has found the new socket 2002.
	p.add(300, "passed", map[int]string{7: "socket:[3003]"})
	resolve(t, c, 1001, 2002, 3003)
	wantOwner(t, c, 2002, 200, "redis")
	wantOwner(t, c, 3003, 0, "")

	// An unowned socket alone never makes a walk.
	clock = clock.Add(Revalidate)
	walks := c.walks
	resolve(t, c, 1001, 2002, 3003)
	if c.walks != walks {
		t.Errorf("an unowned socket made a walk by itself")
	}
	// The next walk that runs, a Revalidate after the last search, finds it.
	p.add(400, "sshd", map[int]string{3: "socket:[4004]"})
	resolve(t, c, 1001, 2002, 3003, 4004)
	wantOwner(t, c, 3003, 300, "passed")
}

// readClock makes c's clock advance by perProcess for every process a
// walk reads, beside what the test adds to *extra: the time a walk takes.
func readClock(c *Cache, perProcess time.Duration) *time.Duration {
	base := time.Unix(1000, 0)
	extra := new(time.Duration)
	c.now = func() time.Time { return base.Add(*extra + time.Duration(c.read)*perProcess) }
	return extra
}

func socketLink(ino uint64) string { return "socket:[" + strconv.FormatUint(ino, 10) + "]" }

// followPending waits, as the agent's alarm does, for each time Pending
// names, and searches then, until nothing is pending.
func followPending(t *testing.T, c *Cache, extra *time.Duration) {
	t.Helper()
	for range 10000 {
		due, ok := c.Pending()
		if !ok {
			return
		}
		if due.Before(c.now()) {
			t.Fatalf("pending until %v, before now", due)
		}
		*extra += due.Sub(c.now())
		if c.Settled() {
			t.Fatal("settled at the pending time")
		}
		if err := c.Ensure(nil); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("still pending after 10,000 searches")
}

// Walks keep to their budget however often new sockets want an owner:
// past a burst, searches wait, their sockets pending without an owner
// until Pending's time, when the next Resolve or Ensure searches for them
// all; and every socket gets its owner in the end.
func TestWalksKeepToBudget(t *testing.T) {
	p := newFakeProc(t)
	c := New(p.root)
	const perProcess = time.Millisecond
	extra := readClock(c, perProcess)
	begin := c.now()
	// A new socket every 10 ms for 5 s, each held by a new process that
	// the walk reads last: each search costs more than the one before.
	const n = 500
	for ino := uint64(1); ino <= n; ino++ {
		p.add(int(ino), "s", map[int]string{3: socketLink(ino)})
		if err := c.Ensure([]uint64{ino}); err != nil {
			t.Fatal(err)
		}
		*extra += 10 * time.Millisecond
	}
	elapsed := c.now().Sub(begin)
	walking := time.Duration(c.read) * perProcess
	if limit := walkBurst + elapsed/walkShare; walking > limit+perProcess {
		t.Errorf("walks took %v in %v, more than the budget's %v", walking, elapsed, limit)
	}
	if _, ok := c.Pending(); !ok {
		t.Fatal("nothing pending: the budget held back no search")
	}
	followPending(t, c, extra)
	for ino := uint64(1); ino <= n; ino++ {
		wantOwner(t, c, ino, int(ino), "s")
	}
}

// A walk stops when its time is up, leaving what it has not found pending,
// and the next goes on where it stopped, within a process too: each
// process is read once, however many walks the search takes.
func TestWalkStopsAndGoesOn(t *testing.T) {
	p := newFakeProc(t)
	for pid := 1; pid <= 300; pid++ {
		p.add(pid, "idle", map[int]string{0: "/dev/null"})
	}
	many := map[int]string{}
	for fd := range 3 * checkEvery {
		many[fd] = "pipe:[9]"
	}
	many[3*checkEvery] = socketLink(777)
	p.add(400, "holder", many)
	c := New(p.root)
	const perProcess = time.Millisecond
	extra := readClock(c, perProcess)
	if err := c.Ensure([]uint64{777, 888}); err != nil { // 888: held by no process
		t.Fatal(err)
	}
	if c.read > int(walkBurst/perProcess)+1 {
		t.Errorf("the first walk read %d processes, past its %v", c.read, walkBurst)
	}
	wantOwner(t, c, 777, 0, "")
	followPending(t, c, extra)
	wantOwner(t, c, 777, 400, "holder")
	wantOwner(t, c, 888, 0, "")
	if c.walks < 2 {
		t.Error("one walk searched it all")
	}
	// Every process once, the holder's fds read on across walks.
	if c.read != 301 {
		t.Errorf("read %d processes for 301, in %d walks", c.read, c.walks)
	}
}

// The budget fills by 1/walkShare of the time that passes, up to walkBurst.
func TestBudget(t *testing.T) {
	var b budget
	t0 := time.Unix(1000, 0)
	if !b.allows(t0) {
		t.Fatal("a new budget allows no walk")
	}
	b.spend(t0, t0.Add(walkBurst+time.Second)) // one long walk: a debt
	end := t0.Add(walkBurst + time.Second)
	if b.allows(end) {
		t.Fatal("allows a walk with the budget in debt")
	}
	next := b.next()
	if want := end.Add((time.Second + minSlice) * walkShare); next.Sub(want).Abs() > walkShare {
		t.Errorf("next walk at +%v, want +%v", next.Sub(end), want.Sub(end))
	}
	if b.allows(next.Add(-time.Millisecond)) {
		t.Error("allows a walk before next")
	}
	if !b.allows(next) {
		t.Error("allows no walk at next")
	}
	b.allows(next.Add(24 * time.Hour))
	if b.spent != 0 {
		t.Errorf("after a day: spent %v, want 0", b.spent)
	}
}

// An owner the kernel named is taken without a walk, and checked by one
// after Revalidate; Ensure keeps the entries a partial scan did not see.
func TestCacheAssumeAndEnsure(t *testing.T) {
	p := newFakeProc(t)
	p.add(100, "nginx", map[int]string{3: "socket:[1001]"})
	p.add(200, "redis", map[int]string{6: "socket:[2002]"})
	c := New(p.root)
	clock := time.Unix(1000, 0)
	c.now = func() time.Time { return clock }

	if o := c.Assume(2002, 200, ""); o != (Owner{PID: 200, Comm: "redis"}) {
		t.Fatalf("Assume = %+v", o)
	}
	c.Assume(3003, 0, "") // a process outside this pid namespace
	if err := c.Ensure([]uint64{2002, 3003}); err != nil {
		t.Fatal(err)
	}
	if c.walks != 0 {
		t.Fatalf("Ensure walked /proc %d times for assumed owners", c.walks)
	}
	wantOwner(t, c, 2002, 200, "redis")
	wantOwner(t, c, 3003, 0, "")

	// A partial scan with a new inode walks, and keeps the others.
	if err := c.Ensure([]uint64{1001}); err != nil {
		t.Fatal(err)
	}
	wantOwner(t, c, 1001, 100, "nginx")
	wantOwner(t, c, 2002, 200, "redis")
	if c.walks != 1 {
		t.Fatalf("walks = %d, want 1", c.walks)
	}

	// A wrong claim (the kernel named the thread group that called
	// listen(), which then handed the socket on) is corrected once
	// Revalidate has passed.
	c.Assume(2002, 100, "nginx")
	wantOwner(t, c, 2002, 100, "nginx")
	clock = clock.Add(Revalidate)
	resolve(t, c, 1001, 2002)
	wantOwner(t, c, 2002, 200, "redis")

	c.Forget(2002)
	wantOwner(t, c, 2002, 0, "")
}

func TestCacheFindsOwnSocket(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rc, _ := l.(*net.TCPListener).SyscallConn()
	var st syscall.Stat_t
	rc.Control(func(fd uintptr) { syscall.Fstat(int(fd), &st) })
	comm, _ := os.ReadFile("/proc/self/comm")

	c := New("/proc")
	resolve(t, c, st.Ino)
	wantOwner(t, c, st.Ino, os.Getpid(), strings.TrimSpace(string(comm)))
}

func TestSocketInode(t *testing.T) {
	for link, want := range map[string]uint64{
		"socket:[0]": 0, "socket:[12345]": 12345, "socket:[18446744073709551615]": 1<<64 - 1,
	} {
		if got, ok := socketInode([]byte(link)); !ok || got != want {
			t.Errorf("socketInode(%q) = %d, %v; want %d", link, got, ok, want)
		}
	}
	for _, bad := range []string{"", "socket:[]", "socket:[12", "socket:12]", "pipe:[12]", "socket:[1a]",
		"socket:[18446744073709551616]", "anon_inode:[eventfd]", "/dev/null"} {
		if got, ok := socketInode([]byte(bad)); ok {
			t.Errorf("socketInode(%q) = %d, want rejected", bad, got)
		}
	}
}

func FuzzSocketInode(f *testing.F) {
	for _, s := range []string{"socket:[1]", "socket:[]", "socket:[18446744073709551616]", "pipe:[3]", "socket:[-1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := socketInode([]byte(s))
		inner, isSock := strings.CutPrefix(s, "socket:[")
		inner, closed := strings.CutSuffix(inner, "]")
		want, err := strconv.ParseUint(inner, 10, 64)
		wantOK := isSock && closed && err == nil && inner != "" && !strings.HasPrefix(inner, "+")
		if ok != wantOK || (ok && got != want) {
			t.Fatalf("socketInode(%q) = %d, %v; strconv says %d, %v", s, got, ok, want, wantOK)
		}
	})
}

// Resolve forgets the sockets a full scan no longer lists, also when as
// many others took their place (the count alone says nothing), and keeps
// the entries of an unchanged scan.
func TestResolveForgetsWhatAScanDoesNotList(t *testing.T) {
	p := newFakeProc(t)
	p.add(100, "nginx", map[int]string{3: "socket:[1001]", 4: "socket:[1002]", 5: "socket:[1003]"})
	c := New(p.root)
	resolve(t, c, 1001, 1002)
	resolve(t, c, 1001, 1002) // unchanged
	if len(c.entries) != 2 {
		t.Fatalf("after an unchanged scan: %d entries, want 2", len(c.entries))
	}
	resolve(t, c, 1001, 1003) // 1002 closed, 1003 opened
	if _, ok := c.entries[1002]; ok || len(c.entries) != 2 {
		t.Errorf("entries %v, want only 1001 and 1003", c.entries)
	}
	wantOwner(t, c, 1003, 100, "nginx")
	c.Assume(1004, 100, "nginx") // from an event, between scans
	resolve(t, c, 1001, 1003)
	if _, ok := c.entries[1004]; ok {
		t.Errorf("an assumed socket the next scan does not list is still cached")
	}
}

// Settled holds after a Resolve until anything Resolve would act on
// changes: an owner exits, one is due for revalidation, or the entries
// change another way.
func TestSettled(t *testing.T) {
	p := newFakeProc(t)
	p.add(100, "nginx", map[int]string{3: "socket:[1001]", 4: "socket:[1002]"})
	p.add(200, "python3", map[int]string{5: "socket:[2002]"})
	c := New(p.root)
	clock := time.Unix(1000, 0)
	c.now = func() time.Time { return clock }
	if c.Settled() {
		t.Fatal("settled before the first Resolve")
	}
	resolve(t, c, 1001, 1002, 2002, 3003)
	if !c.Settled() {
		t.Fatal("not settled right after Resolve")
	}
	if got := len(c.settled.owners); got != 2 {
		t.Errorf("settled checks %d owners, want one per process: 2", got)
	}
	clock = clock.Add(Revalidate - time.Second)
	if !c.Settled() {
		t.Error("not settled before any owner is due for revalidation")
	}
	clock = clock.Add(time.Second)
	if c.Settled() {
		t.Error("settled while owners are due for revalidation")
	}
	resolve(t, c, 1001, 1002, 2002, 3003) // revalidates
	if !c.Settled() {
		t.Error("not settled after the revalidating Resolve")
	}

	for _, change := range []struct {
		name string
		do   func()
	}{
		{"Assume", func() { c.Assume(4004, 100, "nginx") }},
		{"Forget", func() { c.Forget(1002) }},
		{"Ensure", func() { c.Ensure([]uint64{1001}) }},
	} {
		change.do()
		if c.Settled() {
			t.Errorf("settled after %s", change.name)
		}
		resolve(t, c, 1001, 1002, 2002, 3003)
		if !c.Settled() {
			t.Errorf("not settled after the Resolve that followed %s", change.name)
		}
	}

	if err := os.RemoveAll(filepath.Join(p.root, "200")); err != nil {
		t.Fatal(err)
	}
	if c.Settled() {
		t.Error("settled after an owner exited")
	}

	// Sockets no process in view owns need no revalidation.
	u := New(p.root)
	u.now = c.now
	resolve(t, u, 3003)
	clock = clock.Add(10 * Revalidate)
	if !u.Settled() {
		t.Error("a cache of unowned sockets is not settled")
	}
}

// Process names are whatever a process set (prctl PR_SET_NAME takes any
// bytes but NUL): what the cache hands out, from /proc or from an eBPF
// event, is printable UTF-8, or the daemon would refuse the agent's whole
// message for one name.
func TestOwnerNamesArePrintable(t *testing.T) {
	p := newFakeProc(t)
	p.add(100, "\x1b[31mred\tx", map[int]string{3: "socket:[1001]"})
	p.add(200, "caf\xc3\xa9\xc3", map[int]string{4: "socket:[2002]"}) // cut inside a character
	c := New(p.root)
	resolve(t, c, 1001, 2002)
	wantOwner(t, c, 1001, 100, "?[31mred?x")
	wantOwner(t, c, 2002, 200, "café?")
	if o := c.Assume(3003, 300, "ab\x00cd"); o.Comm != "ab" {
		t.Errorf("Assume with a name read mid-change: %q, want %q", o.Comm, "ab")
	}
	if o := c.Assume(4004, 400, "a\u200bb\u0085c"); o.Comm != "a?b?c" {
		t.Errorf("Assume with invisible characters: %q, want %q", o.Comm, "a?b?c")
	}
}

func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"nginx", "\x1b[2J", "caf\xc3", "a\x00b", "\xff\xfe", "日本語のプロセス"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := printable(name)
		if !utf8.ValidString(got) || strings.ContainsRune(got, 0) {
			t.Fatalf("printable(%q) = %q: not valid UTF-8 without NUL", name, got)
		}
		for _, r := range got {
			if !unicode.IsPrint(r) {
				t.Fatalf("printable(%q) = %q holds %q", name, got, r)
			}
		}
		if before, _, _ := strings.Cut(name, "\x00"); utf8.ValidString(before) && printable(before) == before && got != before {
			t.Fatalf("printable(%q) = %q changed a printable name", name, got)
		}
	})
}

// A process with more fds than a walk's time allows is read across walks,
// on from where the last stopped: the process is opened once.
func TestWalkReadsOnWithinAProcess(t *testing.T) {
	p := newFakeProc(t)
	const chunks = 60 // more than walkBurst / tick looks at the clock
	many := map[int]string{}
	for fd := range chunks * checkEvery {
		many[fd] = "pipe:[9]"
	}
	many[chunks*checkEvery] = socketLink(777)
	p.add(10, "holder", many)
	c := New(p.root)
	clock := time.Unix(1000, 0)
	const tick = time.Millisecond
	c.now = func() time.Time { clock = clock.Add(tick); return clock } // each look costs a tick
	// 888, held by no process, makes the pass read every fd (a fake fd
	// directory lists in no particular order).
	if err := c.Ensure([]uint64{777, 888}); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Pending(); !ok {
		t.Fatal("one walk read the whole process")
	}
	for range 10 {
		due, ok := c.Pending()
		if !ok {
			break
		}
		clock = due
		if err := c.Ensure(nil); err != nil {
			t.Fatal(err)
		}
	}
	wantOwner(t, c, 777, 10, "holder")
	wantOwner(t, c, 888, 0, "")
	if _, ok := c.Pending(); ok || c.walks < 2 || c.read != 1 {
		t.Errorf("%d walks opened the process %d times; want it read on across walks, opened once", c.walks, c.read)
	}
}

// What changes while a pass is under way stays changed: a socket that
// closed is not made an unowned entry again, nor is an owner the kernel
// named replaced; and a pass with nothing left to find ends at once.
func TestPassLeavesWhatChangedMeanwhile(t *testing.T) {
	p := newFakeProc(t)
	for pid := 1; pid <= 300; pid++ {
		p.add(pid, "idle", map[int]string{0: "/dev/null"})
	}
	c := New(p.root)
	extra := readClock(c, time.Millisecond)
	if err := c.Ensure([]uint64{501, 502}); err != nil { // held by no process
		t.Fatal(err)
	}
	if _, ok := c.Pending(); !ok {
		t.Fatal("the search ended in the first walk")
	}
	read := c.read
	c.Forget(501)
	c.Assume(502, 77, "named")
	followPending(t, c, extra)
	if _, ok := c.entries[501]; ok {
		t.Error("the socket that closed has an entry again")
	}
	wantOwner(t, c, 502, 77, "named")
	if c.read != read {
		t.Errorf("the pass read %d more processes with nothing left to find", c.read-read)
	}
}
